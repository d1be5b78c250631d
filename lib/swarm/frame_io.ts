/**
 * Frames on a TCP connection (`[length u16][flag u8][bytes]`, see
 * `proto/frames.ts`), read with one reused buffer.
 *
 * @module
 */
import { WireError } from "./proto/bytes.ts";
import { FRAME_HEADER, MAX_FRAME } from "./proto/frames.ts";

/** What frames are read from: a `Deno.Conn`, or anything that reads like one. */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}

export interface ByteSink {
  write(p: Uint8Array): Promise<number>;
}

export interface Frame {
  flag: number;
  /** A view valid until the next call. */
  body: Uint8Array;
}

export class FrameReader {
  #buf = new Uint8Array(4 * (MAX_FRAME + FRAME_HEADER));
  #start = 0;
  #end = 0;

  constructor(private conn: ByteSource) {}

  /** The next frame, or undefined at a clean end. */
  async next(): Promise<Frame | undefined> {
    if (!(await this.#fill(FRAME_HEADER))) return undefined;
    const n = (this.#buf[this.#start] << 8) | this.#buf[this.#start + 1];
    const flag = this.#buf[this.#start + 2];
    if (n === 0) throw new WireError("empty frame");
    if (!(await this.#fill(FRAME_HEADER + n))) {
      throw new WireError("connection ended inside a frame");
    }
    const body = this.#buf.subarray(this.#start + FRAME_HEADER, this.#start + FRAME_HEADER + n);
    this.#start += FRAME_HEADER + n;
    return { flag, body };
  }

  /** Waits until `n` bytes are buffered; false when the connection ended before any of them. */
  async #fill(n: number): Promise<boolean> {
    if (this.#end - this.#start >= n) return true;
    // Move what is left to the front only when the rest would not fit behind it.
    if (this.#start > 0 && this.#start + n > this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    while (this.#end - this.#start < n) {
      const got = await this.conn.read(this.#buf.subarray(this.#end));
      if (got === null) {
        if (this.#end === this.#start) return false;
        throw new WireError("connection ended inside a frame");
      }
      this.#end += got;
    }
    return true;
  }
}

/** One frame of `body` with `flag`, header included. */
export function frame(body: Uint8Array, flag = 0): Uint8Array {
  if (body.length === 0 || body.length > MAX_FRAME) {
    throw new RangeError(`frame of ${body.length} bytes`);
  }
  const out = new Uint8Array(body.length + FRAME_HEADER);
  out[0] = body.length >> 8;
  out[1] = body.length & 0xff;
  out[2] = flag;
  out.set(body, FRAME_HEADER);
  return out;
}

/** Writes all of `bytes`. */
export async function writeAll(conn: ByteSink, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}
