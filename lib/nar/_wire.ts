/**
 * The `nix-archive-1` wire form: every string is a u64 little-endian length,
 * the bytes, then zeros up to a multiple of 8. Token sequences are encoded
 * once here, and `ChunkWriter` batches small writes into 64 KiB chunks while
 * passing big file chunks through untouched.
 */

const utf8 = new TextEncoder();

/** Bytes of `n` as a u64 little-endian (n is a safe integer). */
function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  writeU64(b, 0, n);
  return b;
}

function writeU64(b: Uint8Array, at: number, n: number): void {
  const lo = n >>> 0;
  const hi = Math.floor(n / 0x100000000);
  b[at] = lo & 0xff;
  b[at + 1] = (lo >>> 8) & 0xff;
  b[at + 2] = (lo >>> 16) & 0xff;
  b[at + 3] = lo >>> 24;
  b[at + 4] = hi & 0xff;
  b[at + 5] = (hi >>> 8) & 0xff;
  b[at + 6] = (hi >>> 16) & 0xff;
  b[at + 7] = hi >>> 24;
}

/** Number of zero bytes that follow `len` bytes of a string. */
export function padding(len: number): number {
  return (8 - (len % 8)) % 8;
}

/** The wire form of a sequence of strings (for fixed token runs). */
export function wireStrings(...strings: string[]): Uint8Array {
  const parts = strings.map((s) => utf8.encode(s));
  const total = parts.reduce((n, p) => n + 8 + p.length + padding(p.length), 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(u64(p.length), at);
    out.set(p, at + 8);
    at += 8 + p.length + padding(p.length);
  }
  return out;
}

export const MAGIC = wireStrings("nix-archive-1");
export const REGULAR = wireStrings("(", "type", "regular", "contents");
export const EXECUTABLE = wireStrings("(", "type", "regular", "executable", "", "contents");
export const SYMLINK = wireStrings("(", "type", "symlink", "target");
export const DIRECTORY = wireStrings("(", "type", "directory");
export const ENTRY = wireStrings("entry", "(", "name");
export const NODE = wireStrings("node");
export const CLOSE = wireStrings(")");

const CHUNK = 64 * 1024;
/** Data chunks at least this big are passed through rather than copied. */
const PASS_THROUGH = 16 * 1024;

/**
 * Collects output into fresh 64 KiB buffers; full ones land in `ready`.
 * Buffers are never reused once handed out, so their unwritten bytes are
 * still zero and padding costs nothing but a cursor move.
 */
export class ChunkWriter {
  /** Chunks ready to hand downstream, in order. */
  ready: Uint8Array[] = [];
  /** Total bytes written so far (the current NAR offset). */
  offset = 0;
  #buf = new Uint8Array(CHUNK);
  #pos = 0;

  /** Appends bytes by copying them (or whole if they are big). */
  raw(bytes: Uint8Array): void {
    this.offset += bytes.length;
    if (bytes.length <= CHUNK - this.#pos) {
      this.#buf.set(bytes, this.#pos);
      this.#pos += bytes.length;
    } else if (bytes.length >= PASS_THROUGH) {
      this.flush();
      this.ready.push(bytes);
    } else {
      this.flush();
      this.#buf.set(bytes, 0);
      this.#pos = bytes.length;
    }
  }

  /** Appends a u64 little-endian. */
  u64(n: number): void {
    if (CHUNK - this.#pos < 8) this.flush();
    writeU64(this.#buf, this.#pos, n);
    this.#pos += 8;
    this.offset += 8;
  }

  /** Appends the zero padding that follows `len` bytes. */
  pad(len: number): void {
    const p = padding(len);
    if (CHUNK - this.#pos < p) this.flush();
    this.#pos += p;
    this.offset += p;
  }

  /** Appends a length-prefixed, padded string. */
  string(bytes: Uint8Array): void {
    this.u64(bytes.length);
    this.raw(bytes);
    this.pad(bytes.length);
  }

  /** Moves the partly filled buffer to `ready`. */
  flush(): void {
    if (this.#pos === 0) return;
    this.ready.push(this.#buf.subarray(0, this.#pos));
    this.#buf = new Uint8Array(CHUNK);
    this.#pos = 0;
  }

  /** Takes the ready chunks. */
  take(): Uint8Array[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }
}
