/**
 * Per-chunk compression and whole-body decompression.
 *
 * ```
 * chunk --compressChunk(zstd-3 | xz-0)--> frame ┐
 * chunk --compressChunk----------------> frame ├─ concatenated = one valid .zst / .xz body
 * chunk --compressChunk----------------> frame ┘         └─ decompressStream(method) -> NAR
 * ```
 *
 * zstd is native (`node:zlib`); xz is liblzma compiled to WASM (`node-liblzma`), instantiated when
 * xz is first used.
 *
 * @module
 */
export {
  type Compression,
  CompressionError,
  contentTypeOf,
  type Decompression,
  extensionOf,
} from "./compression.ts";
export { compressChunk, compressChunksInto, DEFAULT_LEVELS } from "./compress_chunk.ts";
export { decompressChunk } from "./decompress_chunk.ts";
export { decompressStream } from "./decompress_stream.ts";
