/**
 * Protocol constants of the reconciliation sketch. Both peers must compute the same cells for the
 * same id, so changing any value here is a protocol change (the golden test in
 * `tests/reconcile_test.ts` pins them).
 *
 * An element lands in one cell of each of the 3 subtables: in subtable `t` at
 * `hash32(id, INDEX_SEEDS[t]) mod 2^log`. Taking the low bits of a fixed 32-bit value is what makes
 * folding exact: the cell at log `l` is the cell at log `L > l` with its top `L - l` bits dropped.
 */
import { hash32 } from "./_hash32.ts";

/**
 * The largest sketch a node keeps (and accepts): 3 x 2^14 cells x 16 B = 768 KiB per segment,
 * decoding ~37,800 differences. A sketch costs >= 20 B per difference (16 B cells, >= 1.22 cells
 * each) against 8 B per id for a plain list, so past this size listing a 100,000-element segment
 * (800 KB) is as cheap; log 15 would double every node's memory per segment for that. It folds
 * down to any smaller log in well under a millisecond.
 */
export const MAX_LOG = 14;

/** Subtables (hash functions) per sketch: one cell per subtable, so an id's cells are distinct. */
export const SUBTABLES = 3;

/** Bytes per cell on the wire: count (i32), idSum (u64), checkSum (u32), all little-endian. */
export const CELL_BYTES = 16;

/** Murmur3 seeds of the 3 cell indices: "ARI0", "ARI1", "ARI2" in ASCII. */
export const INDEX_SEEDS: readonly [number, number, number] = [0x41524930, 0x41524931, 0x41524932];

/** Murmur3 seed of the check hash that tells a pure cell from a mixture: "ARCK" in ASCII. */
export const CHECK_SEED = 0x4152434b;

/** Cell number (in 0 .. 3 * 2^log) of id `(hi, lo)` in subtable `t` of a sketch of `log`. */
export function cellOf(hi: number, lo: number, t: number, log: number): number {
  return (t << log) + (hash32(hi, lo, INDEX_SEEDS[t]) & ((1 << log) - 1));
}

/** The 32-bit check hash of an id. */
export function checkHash(hi: number, lo: number): number {
  return hash32(hi, lo, CHECK_SEED);
}
