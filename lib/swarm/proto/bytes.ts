/**
 * The binary writer and reader every swarm format uses: big-endian integers,
 * length-prefixed UTF-8 strings and byte strings. The reader is for bytes
 * from peers: every read is bounds-checked and a short or malformed input
 * throws `WireError`, never a RangeError from deep inside.
 *
 * @module
 */

/** Bytes from a peer that do not follow the format; the message says what and where. */
export class WireError extends Error {
  override name = "WireError";
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

export class Writer {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;

  constructor(initial = 256) {
    this.#buf = new Uint8Array(initial);
    this.#view = new DataView(this.#buf.buffer);
  }

  get length(): number {
    return this.#len;
  }

  #room(n: number): number {
    const at = this.#len;
    if (at + n > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(this.#buf.length * 2, at + n));
      bigger.set(this.#buf.subarray(0, at));
      this.#buf = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    this.#len += n;
    return at;
  }

  u8(v: number): this {
    const at = this.#room(1);
    this.#view.setUint8(at, v);
    return this;
  }

  u16(v: number): this {
    const at = this.#room(2);
    this.#view.setUint16(at, v);
    return this;
  }

  u32(v: number): this {
    const at = this.#room(4);
    this.#view.setUint32(at, v);
    return this;
  }

  /** An unsigned integer up to 2^53 - 1, as 8 bytes. */
  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`not a u64: ${v}`);
    const at = this.#room(8);
    this.#view.setUint32(at, Math.floor(v / 2 ** 32));
    this.#view.setUint32(at + 4, v >>> 0);
    return this;
  }

  raw(b: Uint8Array): this {
    const at = this.#room(b.length); // first: it may replace the buffer
    this.#buf.set(b, at);
    return this;
  }

  /** Bytes with a 4-byte length. */
  bytes(b: Uint8Array): this {
    return this.u32(b.length).raw(b);
  }

  /** UTF-8 text with a 2-byte length (at most 65535 bytes). */
  str(s: string): this {
    const b = enc.encode(s);
    if (b.length > 0xffff) throw new RangeError(`string of ${b.length} bytes is too long`);
    return this.u16(b.length).raw(b);
  }

  /** The bytes written (a copy: the writer may go on). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

export class Reader {
  #view: DataView;
  #at = 0;

  constructor(readonly buf: Uint8Array, readonly what = "message") {
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.#at;
  }

  get remaining(): number {
    return this.buf.length - this.#at;
  }

  #take(n: number): number {
    if (n > this.buf.length - this.#at) {
      throw new WireError(`${this.what} ends early (needs ${n} more bytes at ${this.#at})`);
    }
    const at = this.#at;
    this.#at += n;
    return at;
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }

  u16(): number {
    return this.#view.getUint16(this.#take(2));
  }

  u32(): number {
    return this.#view.getUint32(this.#take(4));
  }

  u64(): number {
    const at = this.#take(8);
    const hi = this.#view.getUint32(at);
    if (hi >= 2 ** 21) throw new WireError(`${this.what}: integer at ${at} is over 2^53`);
    return hi * 2 ** 32 + this.#view.getUint32(at + 4);
  }

  /** `n` bytes, as a view of the input. */
  raw(n: number): Uint8Array {
    const at = this.#take(n);
    return this.buf.subarray(at, at + n);
  }

  /** Bytes with a 4-byte length, at most `max`. */
  bytes(max: number): Uint8Array {
    const n = this.u32();
    if (n > max) throw new WireError(`${this.what}: ${n} bytes where at most ${max} may be`);
    return this.raw(n);
  }

  /** UTF-8 text with a 2-byte length, at most `max` bytes. */
  str(max = 0xffff): string {
    const n = this.u16();
    if (n > max) throw new WireError(`${this.what}: text of ${n} bytes, at most ${max} allowed`);
    try {
      return dec.decode(this.raw(n));
    } catch {
      throw new WireError(`${this.what}: text at ${this.#at - n} is not UTF-8`);
    }
  }

  /** Throws unless every byte was read: trailing bytes mean a different format. */
  end(): void {
    if (this.#at !== this.buf.length) {
      throw new WireError(`${this.what}: ${this.buf.length - this.#at} unexpected trailing bytes`);
    }
  }
}
