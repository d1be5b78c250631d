/** One-shot decompression of a stored chunk, to verify it against its id. */
import { concatBytes } from "../encoding/mod.ts";
import { zstdDecompressSync } from "node:zlib";
import { type Compression, CompressionError } from "./compression.ts";
import { XzDecoder } from "./_xz.ts";
import { ZstdFrames } from "./_zstd_frames.ts";
import { zstdDecodeInto } from "./_zstd_decoder.ts";

/**
 * Decompresses a whole compressed chunk (or several concatenated); throws
 * `CompressionError`. With `size` (the plain length a manifest gives), zstd
 * decodes into one buffer of that size by a reused context, and anything
 * but exactly `size` bytes is an error.
 */
export function decompressChunk(data: Uint8Array, method: Compression, size?: number): Uint8Array {
  switch (method) {
    case "zstd": {
      // Frame by frame: the one-shot decoder neither reports truncation nor reads past a frame.
      const frames = new ZstdFrames();
      const ends = frames.feed(data);
      if (!frames.atFrameEnd) throw new CompressionError("Cannot decompress zstd chunk: truncated");
      if (size !== undefined) {
        const out = new Uint8Array(size);
        if (zstdDecodeInto(data, out)) return out;
      }
      const parts: Uint8Array[] = [];
      let start = 0;
      for (const end of ends) {
        try {
          const out = zstdDecompressSync(data.subarray(start, end));
          parts.push(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
        } catch (e) {
          throw new CompressionError(
            `Cannot decompress zstd chunk: ${(e as Error).message} (frame at byte ${start})`,
          );
        }
        start = end;
      }
      return concatBytes(parts);
    }
    case "xz": {
      const parts: Uint8Array[] = [];
      const d = new XzDecoder();
      try {
        d.push(data, (b) => parts.push(b));
        d.finish((b) => parts.push(b));
      } catch (e) {
        throw new CompressionError(`Cannot decompress xz chunk: ${(e as Error).message}`);
      } finally {
        d.close();
      }
      return concatBytes(parts);
    }
    case "none":
      return data;
    default:
      throw new CompressionError(`Unknown compression method: ${method}`);
  }
}
