/**
 * Streaming FastCDC chunker.
 *
 * Algorithm: FastCDC with normalized chunking (level 2), after W. Xia et al., "FastCDC: a Fast
 * and Efficient Content-Defined Chunking Approach", USENIX ATC 2016. A gear hash
 * `h = (h << 1) + GEAR[byte]` rolls over the data (its top bits depend on the last 32 bytes);
 * a boundary is placed after a byte where `h & mask == 0`. Hashing starts `min` bytes into a
 * chunk (cut-point skipping); up to `avg` the mask has log2(avg)+2 bits (boundaries are rare),
 * after it log2(avg)-2 bits (boundaries are likely), which pulls lengths towards `avg`; at `max`
 * the chunk is cut regardless. Masks use the high bits of the 32-bit hash, which see the
 * widest window.
 *
 * ```
 *  chunk start    +min            +avg                 +max
 *      |-- skip ----|-- maskS (hard) --|-- maskL (easy) --|  forced cut
 * ```
 *
 * The hash restarts at every chunk, so a boundary depends only on the bytes since the previous
 * one: the cut points are the same however the input is split into pushes.
 */
import { type ChunkParams, DEFAULT_CHUNK_PARAMS, validateChunkParams } from "./chunk_params.ts";
import { gearScan, scanHash } from "./_gear_scan.ts";

/** A mask with `n` one-bits at the top of a 32-bit word, as a signed int32. */
function topBits(n: number): number {
  return n >= 32 ? -1 : (~(0xffffffff >>> n)) | 0;
}

/**
 * Cuts a byte stream into content-defined chunks.
 *
 * `push` returns the chunks completed so far, `finish` the last one (shorter than `min` maybe).
 * A chunk that lies inside one pushed piece is returned as a `subarray` view of that piece (no
 * copy), so do not overwrite a pushed buffer while its chunks are still in use. A chunk that
 * spans pieces is returned as a fresh copy. Returned chunks are never reused by the chunker.
 *
 * @example
 * ```ts
 * import { Chunker } from "./chunker.ts";
 * const c = new Chunker({ min: 1024, avg: 4096, max: 16384 });
 * const data = new Uint8Array(100_000).map((_, i) => (i * 2654435761) >>> 24);
 * const chunks = [...c.push(data.subarray(0, 5000)), ...c.push(data.subarray(5000)), ...c.finish()];
 * const total = chunks.reduce((n, x) => n + x.length, 0);
 * if (total !== data.length) throw new Error("chunks must cover the input");
 * ```
 */
export class Chunker {
  readonly params: Readonly<ChunkParams>;
  readonly #min: number;
  readonly #avg: number;
  readonly #max: number;
  readonly #maskS: number;
  readonly #maskL: number;
  /** Bytes of the pending chunk that did not end in a completed piece. */
  #carry: Uint8Array | null = null;
  #carryLen = 0;
  /** Chunk-relative position up to which the pending chunk has been scanned, and its hash. */
  #pos = 0;
  #h = 0;

  constructor(params: ChunkParams = DEFAULT_CHUNK_PARAMS) {
    const bits = validateChunkParams(params);
    this.params = Object.freeze({ min: params.min, avg: params.avg, max: params.max });
    this.#min = params.min;
    this.#avg = params.avg;
    this.#max = params.max;
    this.#maskS = topBits(bits + 2);
    this.#maskL = topBits(bits - 2);
  }

  /** Feeds the next piece of the stream; returns the chunks it completed, in order. */
  push(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let off = 0;
    if (this.#carryLen > 0) {
      // Extend the pending chunk from `data`, but never beyond `max`: the cut is within reach.
      const carry = this.#carry!;
      const before = this.#carryLen;
      const take = Math.min(this.#max - before, data.length);
      carry.set(data.subarray(0, take), before);
      const cut = this.#scan(carry, 0, before + take);
      if (cut < 0) {
        this.#carryLen = before + take;
        return out;
      }
      out.push(carry.slice(0, cut));
      this.#carryLen = 0;
      off = cut - before;
    }
    for (;;) {
      const cut = this.#scan(data, off, data.length);
      if (cut < 0) break;
      out.push(data.subarray(off, cut));
      off = cut;
    }
    if (off < data.length) {
      this.#carry ??= new Uint8Array(this.#max);
      this.#carry.set(data.subarray(off), 0);
      this.#carryLen = data.length - off;
    }
    return out;
  }

  /** Ends the stream: returns the last (possibly short) chunk, if any, and resets the chunker. */
  finish(): Uint8Array[] {
    const out = this.#carryLen > 0 ? [this.#carry!.slice(0, this.#carryLen)] : [];
    this.#carryLen = 0;
    this.#pos = 0;
    this.#h = 0;
    return out;
  }

  /**
   * Scans `buf[start + pos, end)` for the end of the chunk starting at `start`. Returns the
   * absolute end index of the chunk and resets the scan state, or -1 after saving the state.
   */
  #scan(buf: Uint8Array, start: number, end: number): number {
    let i = start + Math.max(this.#pos, this.#min);
    const maxEnd = start + this.#max;
    let lim = Math.min(end, start + this.#avg);
    let h = this.#h;
    if (i < lim) {
      const cut = gearScan(buf, i, lim, h, this.#maskS);
      if (cut >= 0) return this.#cut(cut);
      h = scanHash();
      i = lim;
    }
    lim = Math.min(end, maxEnd);
    if (i < lim) {
      const cut = gearScan(buf, i, lim, h, this.#maskL);
      if (cut >= 0) return this.#cut(cut);
      h = scanHash();
      i = lim;
    }
    if (i >= maxEnd) return this.#cut(maxEnd);
    this.#h = h;
    this.#pos = end - start;
    return -1;
  }

  #cut(at: number): number {
    this.#h = 0;
    this.#pos = 0;
    return at;
  }
}
