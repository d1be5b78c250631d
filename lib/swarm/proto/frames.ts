/**
 * Messages as Noise frames. On the wire a link is a sequence of frames,
 * each `[length u16][Noise ciphertext]` (the length Noise itself allows,
 * at most 65535). A frame's plaintext is `[more u8][part of a message]`:
 * a message larger than one frame is split, and `more = 1` says another
 * part follows. Parts of one message are sent back to back.
 *
 * @module
 */
import { WireError } from "./bytes.ts";

/** Noise's limit on one message, and so on one frame. */
export const MAX_FRAME = 65535;
/** Message bytes in one frame: the frame minus the AEAD tag and the `more` byte. */
export const FRAME_PAYLOAD = MAX_FRAME - 16 - 1;

/** The frame plaintexts that carry `msg`. */
export function* framePlaintexts(msg: Uint8Array): Generator<Uint8Array> {
  let at = 0;
  do {
    const n = Math.min(FRAME_PAYLOAD, msg.length - at);
    const f = new Uint8Array(n + 1);
    f[0] = at + n < msg.length ? 1 : 0;
    f.set(msg.subarray(at, at + n), 1);
    at += n;
    yield f;
  } while (at < msg.length);
}

/** Puts messages back together from frame plaintexts, refusing any over `maxBytes`. */
export class Reassembler {
  #parts: Uint8Array[] = [];
  #size = 0;

  constructor(readonly maxBytes: number) {}

  /** Takes one frame's plaintext; returns a whole message once its last part arrived. */
  push(plain: Uint8Array): Uint8Array | undefined {
    if (plain.length === 0) throw new WireError("empty frame");
    const more = plain[0];
    if (more > 1) throw new WireError("frame has a bad flag");
    const part = plain.subarray(1);
    this.#size += part.length;
    if (this.#size > this.maxBytes) {
      throw new WireError(`message over ${this.maxBytes} bytes`);
    }
    if (more === 1 && part.length < FRAME_PAYLOAD) {
      // Only full frames may be followed by more: keeps the frame count per message honest.
      throw new WireError("a short frame says more follows");
    }
    if (more === 1 || this.#parts.length > 0) this.#parts.push(part);
    if (more === 1) return undefined;
    if (this.#parts.length === 0) {
      this.#size = 0;
      return part;
    }
    const out = new Uint8Array(this.#size);
    let o = 0;
    for (const p of this.#parts) {
      out.set(p, o);
      o += p.length;
    }
    this.#parts = [];
    this.#size = 0;
    return out;
  }
}
