/**
 * Compresses one chunk into a self-contained frame (zstd) or stream (xz), so that stored chunks
 * can be served back to back as one valid compressed body: zstd frames and xz streams
 * concatenate.
 */
import { type Compression, CompressionError } from "./compression.ts";
import { xzCompress } from "./_xz.ts";
import { zstdBound, zstdFrameInto } from "./_zstd_encoder.ts";
import { DEFAULT_LEVELS } from "./compression.ts";

export { DEFAULT_LEVELS };

/**
 * Compresses `data` with `method` at `level` (zstd 1-22, xz 0-6). Synchronous: the native
 * zstd call measured faster per 64 KiB chunk than the thread-pool async one. `none` returns
 * `data` itself. `compressChunksInto` does many chunks into one buffer.
 */
export function compressChunk(data: Uint8Array, method: Compression, level?: number): Uint8Array {
  const lvl = level ?? DEFAULT_LEVELS[method];
  switch (method) {
    case "zstd":
      return compressChunksInto([data], method, lvl).out;
    case "xz":
      if (!Number.isInteger(lvl) || lvl < 0 || lvl > 6) {
        throw new CompressionError(`Invalid xz preset ${lvl}: expected an integer in 0..6`);
      }
      return xzCompress(data, lvl);
    case "none":
      return data;
    default:
      throw new CompressionError(`Unknown compression method: ${method}`);
  }
}

/**
 * Compresses each of `chunks` like `compressChunk`, back to back into one
 * new buffer: a batch makes one allocation, not one or more per chunk.
 * Returns the buffer (sized to its contents) and each output's length.
 */
export function compressChunksInto(
  chunks: Uint8Array[],
  method: Compression,
  level?: number,
): { out: Uint8Array; lens: number[] } {
  const lvl = level ?? DEFAULT_LEVELS[method];
  if (method !== "zstd") {
    const parts = chunks.map((c) => compressChunk(c, method, lvl));
    const lens = parts.map((p) => p.length);
    const out = new Uint8Array(lens.reduce((n, l) => n + l, 0));
    let o = 0;
    for (const [i, p] of parts.entries()) {
      out.set(p, o);
      o += p.length;
      // Freed now, not at the next GC (which in a busy worker came late enough
      // to add ~60 MiB to an xz import's peak RSS). Only a fresh buffer of its
      // own: `none` returns the caller's bytes.
      const own = p.buffer;
      if (
        p !== chunks[i] && own instanceof ArrayBuffer && p.byteOffset === 0 &&
        p.byteLength === own.byteLength
      ) own.transfer(0);
    }
    return { out, lens };
  }
  if (!Number.isInteger(lvl) || lvl < 1 || lvl > 22) {
    throw new CompressionError(`Invalid zstd level ${lvl}: expected an integer in 1..22`);
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + zstdBound(c.length), 0));
  const lens: number[] = [];
  let o = 0;
  for (const c of chunks) {
    const n = zstdFrameInto(c, lvl, out, o);
    lens.push(n);
    o += n;
  }
  return { out: out.subarray(0, o), lens };
}
