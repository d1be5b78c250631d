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
    const { compressChunk } = await codec;
    const input = new Uint8Array(buf);
    const parts: Uint8Array[] = [];
    let o = 0;
    for (const n of lens) {
      parts.push(compressChunk(input.subarray(o, o + n), method, level));
      o += n;
    }
    // Freed now rather than at this isolate's next GC, which comes late: the
    // garbage of a few hundred batches was much of an import's peak RSS.
    buf.transfer(0);
    const outLens = parts.map((p) => p.length);
    const out = new Uint8Array(outLens.reduce((a, b) => a + b, 0));
    o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
      // Only a buffer of its own (never a slice of a shared pool).
      const own = p.buffer;
      if (own instanceof ArrayBuffer && p.byteOffset === 0 && p.byteLength === own.byteLength) {
        own.transfer(0);
      }
    }
    self.postMessage({ id, out: out.buffer, lens: outLens }, [out.buffer]);
  } catch (err) {
    self.postMessage({ id, error: (err as Error).message });
  }
};
