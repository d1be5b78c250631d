/**
 * Messages as Noise frames. On the wire a link is a sequence of frames,
 * `[length u16][more u8][Noise ciphertext of length bytes]`: the length
 * Noise allows (at most 65535), and a flag saying another part of the same
 * message follows. The flag is the ciphertext's associated data, so it is
 * authenticated with it: a frame cannot be cut loose from its message. A
 * message larger than one frame is split; parts of one message are sent
 * back to back. Handshake messages are single frames (flag 0).
 *
 * @module
 */
import { WireError } from "./bytes.ts";
import { freeBuffer } from "../../encoding/mod.ts";

/** Noise's limit on one message, and so on one frame's ciphertext. */
export const MAX_FRAME = 65535;
/** Bytes before a frame's ciphertext. */
export const FRAME_HEADER = 3;
/** Message bytes in one frame: the frame minus the AEAD tag. */
export const FRAME_PAYLOAD = MAX_FRAME - 16;

/** The associated data of a frame: its flag byte. */
export const FLAG_AD = [new Uint8Array([0]), new Uint8Array([1])] as const;

/** How `total` message bytes are cut: the sizes of its frames' plaintexts. */
export function frameSizes(total: number): number[] {
  const out: number[] = [];
  let left = total;
  do {
    const n = Math.min(FRAME_PAYLOAD, left);
    out.push(n);
    left -= n;
  } while (left > 0);
  return out;
}

/** Puts messages back together from frames' plaintexts, refusing any over `maxBytes`. */
export class Reassembler {
  #parts: Uint8Array[] = [];
  #size = 0;

  constructor(readonly maxBytes: number) {}

  /** Takes one frame's plaintext and flag; returns a whole message once its last part arrived. */
  push(part: Uint8Array, more: number): Uint8Array | undefined {
    if (more > 1) throw new WireError("frame has a bad flag");
    this.#size += part.length;
    if (this.#size > this.maxBytes) {
      throw new WireError(`message over ${this.maxBytes} bytes`);
    }
    if (more === 1 && part.length < FRAME_PAYLOAD) {
      // Only full frames may be followed by more: keeps the frame count per message honest.
      throw new WireError("a short frame says more follows");
    }
    if (more === 0 && this.#parts.length === 0) {
      this.#size = 0;
      return part;
    }
    this.#parts.push(part);
    if (more === 1) return undefined;
    const out = new Uint8Array(this.#size);
    let o = 0;
    for (const p of this.#parts) {
      out.set(p, o);
      o += p.length;
      freeBuffer(p); // a decrypted frame, copied in: its memory back now, not at a GC
    }
    this.#parts = [];
    this.#size = 0;
    return out;
  }
}
