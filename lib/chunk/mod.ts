/**
 * Content-defined chunking (FastCDC with normalized chunking) for deduplicating NARs.
 *
 * ```
 * NAR bytes --push()--> Chunker --> chunks (16 KiB..256 KiB, ~64 KiB average) --> sha256 id
 * ```
 *
 * @module
 */
export { type ChunkParams, DEFAULT_CHUNK_PARAMS, validateChunkParams } from "./chunk_params.ts";
export { GEAR_TABLE } from "./gear_table.ts";
export { Chunker } from "./chunker.ts";
export { chunkStream } from "./chunk_stream.ts";
