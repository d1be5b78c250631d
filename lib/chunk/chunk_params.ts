/**
 * Chunk size parameters for content-defined chunking, and the defaults Arca uses.
 *
 * The defaults (16 KiB / 64 KiB / 256 KiB) were chosen by measurement (bench/chunk_compress.ts):
 * on ~200 MB of shared libraries, per-chunk zstd-3 at 64 KiB average kept about 97% of the
 * whole-stream ratio, while 16 KiB lost several percent and doubled the per-chunk index
 * overhead; dedup on edited data (10% of 4 KiB blocks changed, bytes inserted) was only a few
 * points better at 16-32 KiB. 64 KiB chunks also keep the chunk count of a 1 GiB NAR at ~16k.
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
