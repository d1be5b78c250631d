/// <reference lib="deno.worker" />
/**
 * Worker side of `CompressPool`: compresses a batch of chunks off the main
 * thread. In: `{ id, buf, lens, method, level }` (chunks back to back). Out:
 * `{ id, out, lens }` (compressed chunks back to back) or `{ id, error }`.
 * Buffers are transferred, not copied.
 *
 * The handler is installed before anything is awaited: a message that
 * arrives while a worker module is still evaluating is dropped if no
 * handler exists yet.
 */
import type { Compression } from "../compress/mod.ts";

const codec = import("../compress/mod.ts");

interface Job {
  id: number;
  buf: ArrayBuffer;
  lens: number[];
  method: Compression;
  level: number;
}

self.onmessage = async (e: MessageEvent<Job>) => {
  const { id, buf, lens, method, level } = e.data;
  try {
    const { compressChunksInto } = await codec;
    const input = new Uint8Array(buf);
    const chunks: Uint8Array[] = [];
    let o = 0;
    for (const n of lens) {
      chunks.push(input.subarray(o, o + n));
      o += n;
    }
    // One output buffer for the batch, written in place: no garbage per chunk.
    const { out, lens: outLens } = compressChunksInto(chunks, method, level);
    // Freed now rather than at this isolate's next GC, which comes late: the
    // garbage of a few hundred batches was much of an import's peak RSS.
    buf.transfer(0);
    self.postMessage({ id, out: out.buffer, lens: outLens }, [out.buffer as ArrayBuffer]);
  } catch (err) {
    self.postMessage({ id, error: (err as Error).message });
  }
};
