/// <reference lib="deno.worker" />
/**
 * Worker side of `CompressPool`: compresses chunks off the main thread.
 * Messages: `{ id, buf, method, level }` in, `{ id, out }` or `{ id, error }` back,
 * buffers transferred, not copied.
 *
 * The handler is installed before anything is awaited: a message that
 * arrives while a worker module is still evaluating (the xz WASM loads with
 * a top-level await) is dropped if no handler exists yet.
 */
import type { Compression } from "../compress/mod.ts";

const codec = import("../compress/mod.ts");

self.onmessage = async (
  e: MessageEvent<{ id: number; buf: ArrayBuffer; method: Compression; level: number }>,
) => {
  const { id, buf, method, level } = e.data;
  try {
    const { compressChunk } = await codec;
    const out = compressChunk(new Uint8Array(buf), method, level);
    const own = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength
      ? out
      : out.slice();
    self.postMessage({ id, out: own }, [own.buffer as ArrayBuffer]);
  } catch (err) {
    self.postMessage({ id, error: (err as Error).message });
  }
};
