/**
 * Chunk size parameters for content-defined chunking, and the defaults Arca uses.
 *
 * The defaults (16 KiB / 64 KiB / 256 KiB) were chosen by measurement (bench/chunk_compress.ts,
 * 230 MB tar of shared libraries): per-chunk zstd-3 kept 91% of the whole-stream ratio (3.22 vs
 * 3.52); on 64 MB, 16 KiB chunks compressed 6% worse than 128 KiB (2.31 vs 2.46 at 64 KiB, 2.53)
 * with 4x the chunk count. Smaller chunks dedup scattered edits better (10% of 4 KiB blocks
 * changed: 50% new bytes at 16 KiB, 90% at 64 KiB) but insertions dedup well at any size
 * (0.7-4.8% new). 64 KiB keeps the per-chunk index small (~16k chunks per GiB) and the ratio.
 */

/** Minimum, average (target) and maximum chunk length in bytes. */
export interface ChunkParams {
  /** No boundary is placed before this many bytes into a chunk. */
  min: number;
  /** Target average; a power of two between 256 and 2^28. */
  avg: number;
  /** A chunk is cut here if no boundary was found earlier; at most 2^30. */
  max: number;
}

/** Arca's chunking: min 16 KiB, average 64 KiB, max 256 KiB. */
export const DEFAULT_CHUNK_PARAMS: Readonly<ChunkParams> = Object.freeze({
  min: 16 * 1024,
  avg: 64 * 1024,
  max: 256 * 1024,
});

/** Throws `RangeError` saying which field is wrong; returns log2(avg) otherwise. */
export function validateChunkParams(p: ChunkParams): number {
  const { min, avg, max } = p ?? {};
  for (const [name, v] of [["min", min], ["avg", avg], ["max", max]] as const) {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
      throw new RangeError(`Invalid chunk params: ${name} must be a positive integer, got ${v}`);
    }
  }
  const bits = Math.log2(avg);
  if (!Number.isInteger(bits) || bits < 8 || bits > 28) {
    throw new RangeError(
      `Invalid chunk params: avg must be a power of two in [256, 2^28], got ${avg}`,
    );
  }
  if (!(min <= avg && avg <= max)) {
    throw new RangeError(`Invalid chunk params: need min <= avg <= max, got ${min}/${avg}/${max}`);
  }
  if (max > 2 ** 30) throw new RangeError(`Invalid chunk params: max must be <= 2^30, got ${max}`);
  return bits;
}
