/**
 * How big a sketch to ask for. The table holds, per log, the largest difference that peels with a
 * measured failure rate of at most ~0.5% (mixed directions, random ids; `bench/reconcile_measure.ts
 * --capacity` bisects for it, rounded down here). Two regimes show in it:
 * - small d: failure is dominated by two ids sharing all 3 cells, about C(d,2) / 2^(3 log), so the
 *   sketch needs many cells per difference (d = 10 needs log 5: 9.6 cells each, 1.5 KiB);
 * - large d: peeling has a sharp threshold near 1.22 cells per difference (k = 3); the table keeps
 *   1.3 from log 10 on, as the edge is steep and the expected difference is only an estimate.
 *
 * Measured failure at d = CAPACITY[log] (bench/reconcile_measure.ts --rates; trials): log 3: 0.21%,
 * 4: 0.43%, 5: 0.33%, 6: 0.44% (40,000 each); 7: 0.51%, 8: 0.50%, 9: 0.46% (10,000); 10: 0.13%,
 * 11: 0.10% (4,000); 12: 0.1%, 13: 0%, 14: 0.1% (1,000). At sketchLogFor(d): d = 10 (log 5,
 * 1,536 B) 99.86% and d = 100 (log 7, 6 KiB) 99.73% of 20,000 decoded, d = 1000 (log 9, 24 KiB)
 * 99.60% of 4,000, d = 10,000 (log 13, 384 KiB) 99.95% of 2,000.
 */
import { MAX_LOG, SUBTABLES } from "./sketch_hashes.ts";

/** Largest difference each log (the index) decodes with failure <= ~0.5%. */
const CAPACITY: readonly number[] = [
  1, // log 0: 3 cells; two ids always share all of them
  1,
  1,
  2,
  6,
  16,
  48,
  140,
  400,
  1100,
  ...[10, 11, 12, 13, 14].map((log) => Math.floor((SUBTABLES << log) / 1.3)),
];

/** The largest difference a sketch of `log` decodes with failure <= ~0.5% (the table above). */
export function sketchCapacity(log: number): number {
  if (!Number.isInteger(log) || log < 0 || log > MAX_LOG) {
    throw new RangeError(`Cannot size sketch: log must be an integer in 0..${MAX_LOG}, got ${log}`);
  }
  return CAPACITY[log];
}

/**
 * The smallest log (0..MAX_LOG) whose sketch decodes `expectedDifference` differences with high
 * probability (>= 99.5% measured). Beyond `sketchCapacity(MAX_LOG)` (37,809) it returns MAX_LOG,
 * which will likely fail to decode: listing ids (or splitting the segment) is cheaper there.
 */
export function sketchLogFor(expectedDifference: number): number {
  if (!(expectedDifference >= 0) || expectedDifference === Infinity) {
    throw new RangeError(
      `Cannot size sketch: expected difference must be a finite number >= 0, got ${expectedDifference}`,
    );
  }
  for (let log = 0; log < MAX_LOG; log++) if (CAPACITY[log] >= expectedDifference) return log;
  return MAX_LOG;
}
