/**
 * Length-prefixed frames on a TCP connection (`[length u16][bytes]`, the
 * framing Noise recommends), read with one reused buffer.
 *
 * @module
 */
import { WireError } from "./proto/bytes.ts";
import { MAX_FRAME } from "./proto/frames.ts";

/** What frames are read from: a `Deno.Conn`, or anything that reads like one. */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}

export interface ByteSink {
  write(p: Uint8Array): Promise<number>;
}

export class FrameReader {
  #buf = new Uint8Array(2 * (MAX_FRAME + 2));
  #start = 0;
  #end = 0;

  constructor(private conn: ByteSource, private onBytes?: (n: number) => void) {}

  /** The next frame (a view valid until the next call), or undefined at a clean end. */
  async next(): Promise<Uint8Array | undefined> {
    if (!(await this.#fill(2))) return undefined;
    const n = (this.#buf[this.#start] << 8) | this.#buf[this.#start + 1];
    if (n === 0) throw new WireError("empty frame");
    if (!(await this.#fill(2 + n))) throw new WireError("connection ended inside a frame");
    const f = this.#buf.subarray(this.#start + 2, this.#start + 2 + n);
    this.#start += 2 + n;
    return f;
  }

  /** Waits until `n` bytes are buffered; false when the connection ended before any of them. */
  async #fill(n: number): Promise<boolean> {
    if (this.#end - this.#start >= n) return true;
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    while (this.#end < n) {
      const got = await this.conn.read(this.#buf.subarray(this.#end));
      if (got === null) {
        if (this.#end === 0) return false;
        throw new WireError("connection ended inside a frame");
      }
      this.#end += got;
      this.onBytes?.(got);
    }
    return true;
  }
}

/** `[length u16]` + `body`, in one buffer. */
export function frame(body: Uint8Array): Uint8Array {
  if (body.length === 0 || body.length > MAX_FRAME) {
    throw new RangeError(`frame of ${body.length} bytes`);
  }
  const out = new Uint8Array(body.length + 2);
  out[0] = body.length >> 8;
  out[1] = body.length & 0xff;
  out.set(body, 2);
  return out;
}

/** Writes all of `bytes`. */
export async function writeAll(conn: ByteSink, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}
