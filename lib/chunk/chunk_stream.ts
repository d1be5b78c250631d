/** A web-stream face for the chunker: bytes in, content-defined chunks out. */
import type { ChunkParams } from "./chunk_params.ts";
import { Chunker } from "./chunker.ts";

/**
 * A `TransformStream` that re-cuts its input into FastCDC chunks (see `Chunker`). Chunks may
 * be views into the written pieces; writers must not reuse a written buffer.
 */
export function chunkStream(params?: ChunkParams): TransformStream<Uint8Array, Uint8Array> {
  const chunker = new Chunker(params);
  return new TransformStream({
    transform(piece, controller) {
      for (const c of chunker.push(piece)) controller.enqueue(c);
    },
    flush(controller) {
      for (const c of chunker.finish()) controller.enqueue(c);
    },
  });
}
