/**
 * An invertible Bloom lookup table over 8-byte element ids: 3 subtables of 2^log cells, each id
 * added to one cell per subtable. Cell = count (i32) + idSum (XOR of ids) + checkSum (XOR of the
 * ids' check hashes). Subtracting a peer's sketch of the same log cancels every shared element,
 * and peeling the rest lists the difference. A node keeps one sketch per segment at MAX_LOG,
 * updated in O(1) per change, and folds it to the log a peer asks for.
 */
import type { Id } from "./element_id.ts";
import { peelCells } from "./_peel.ts";
import { CELL_BYTES, cellOf, checkHash, MAX_LOG, SUBTABLES } from "./sketch_hashes.ts";

function checkLog(log: number, max: number, what: string): void {
  if (!Number.isInteger(log) || log < 0 || log > max) {
    throw new RangeError(`${what}: log must be an integer in 0..${max}, got ${log}`);
  }
}

/** An IBLT sketch of a set of element ids. */
export class Sketch {
  /** Each subtable has 2^log cells. */
  readonly log: number;
  /** 4 words per cell, in wire order: count, idSum lo, idSum hi, checkSum. */
  readonly #cells: Uint32Array;

  /** An empty sketch of `log` (0..MAX_LOG). */
  constructor(log: number) {
    checkLog(log, MAX_LOG, "Cannot create sketch");
    this.log = log;
    this.#cells = new Uint32Array((SUBTABLES << log) * 4);
  }

  /** Size of the wire form of a sketch of `log`: 3 * 2^log * 16 bytes. */
  static byteLength(log: number): number {
    checkLog(log, MAX_LOG, "Cannot size sketch");
    return (SUBTABLES << log) * CELL_BYTES;
  }

  /** Adds id `(hi, lo)` (3 cells). */
  add(hi: number, lo: number): void {
    this.#update(hi >>> 0, lo >>> 0, 1);
  }

  /** Removes id `(hi, lo)`: the inverse of {@linkcode Sketch.add}. */
  remove(hi: number, lo: number): void {
    this.#update(hi >>> 0, lo >>> 0, -1);
  }

  #update(hi: number, lo: number, delta: number): void {
    const c = this.#cells;
    const check = checkHash(hi, lo);
    for (let t = 0; t < SUBTABLES; t++) {
      const w = cellOf(hi, lo, t, this.log) << 2;
      c[w] += delta; // wraps mod 2^32: the count is read back as an i32
      c[w + 1] ^= lo;
      c[w + 2] ^= hi;
      c[w + 3] ^= check;
    }
  }

  /** This sketch at a smaller (or equal) `log`: identical to one built there from the same ids. */
  fold(log: number): Sketch {
    checkLog(log, this.log, "Cannot fold sketch");
    const out = new Sketch(log);
    const src = this.#cells;
    const dst = out.#cells;
    const from = 1 << this.log;
    const mask = (1 << log) - 1;
    for (let t = 0; t < SUBTABLES; t++) {
      for (let i = 0; i < from; i++) {
        const s = ((t << this.log) + i) << 2;
        const d = ((t << log) + (i & mask)) << 2;
        dst[d] += src[s];
        dst[d + 1] ^= src[s + 1];
        dst[d + 2] ^= src[s + 2];
        dst[d + 3] ^= src[s + 3];
      }
    }
    return out;
  }

  /**
   * This minus `other` (same log): counts subtract, sums XOR, so shared ids cancel and what is left
   * is what only this side has (count +1) and what only the other side has (count -1).
   */
  subtract(other: Sketch): Sketch {
    if (other.log !== this.log) {
      throw new RangeError(`Cannot subtract sketches of log ${other.log} from log ${this.log}`);
    }
    const out = new Sketch(this.log);
    const a = this.#cells;
    const b = other.#cells;
    const d = out.#cells;
    for (let w = 0; w < d.length; w += 4) {
      d[w] = a[w] - b[w];
      d[w + 1] = a[w + 1] ^ b[w + 1];
      d[w + 2] = a[w + 2] ^ b[w + 2];
      d[w + 3] = a[w + 3] ^ b[w + 3];
    }
    return out;
  }

  /**
   * Decodes the elements in this (difference) sketch: `mine` were added more than removed
   * (count +1), `theirs` the reverse, each in no particular order. `undefined` when it cannot be
   * fully decoded (too small a sketch for the difference, or garbage). Leaves this sketch as is.
   */
  peel(): { mine: Id[]; theirs: Id[] } | undefined {
    return peelCells(this.#cells.slice(), this.log);
  }

  /**
   * The wire form: 16 bytes per cell (count i32, idSum u64, checkSum u32, little-endian), cells
   * of subtable 0 first, then 1, then 2.
   */
  encode(): Uint8Array {
    const c = this.#cells;
    const out = new Uint8Array(c.length * 4);
    const v = new DataView(out.buffer);
    for (let i = 0; i < c.length; i++) v.setUint32(i * 4, c[i], true);
    return out;
  }

  /**
   * Reads a sketch from a peer: its length must be `Sketch.byteLength(log)` for a log in
   * 0..MAX_LOG (RangeError otherwise). Any cell contents are accepted: `peel` copes with them.
   */
  static decode(bytes: Uint8Array): Sketch {
    let log = 0;
    while (log <= MAX_LOG && Sketch.byteLength(log) !== bytes.length) log++;
    if (log > MAX_LOG) {
      throw new RangeError(
        `Cannot decode sketch: ${bytes.length} bytes is not 3 * 2^log * ${CELL_BYTES} ` +
          `for any log in 0..${MAX_LOG}`,
      );
    }
    const out = new Sketch(log);
    const c = out.#cells;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < c.length; i++) c[i] = v.getUint32(i * 4, true);
    return out;
  }
}
