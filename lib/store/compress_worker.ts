/// <reference lib="deno.worker" />
/**
 * Worker side of `WorkerPool` (compress_pool.ts): hashes and compresses
 * chunk jobs in the shared ring it gets first (`{ t: "init", ring }`).
 * In: `{ t: "hash", job, at, idsAt, lens, plainAt }` (ids written at idsAt) or `{ t: "compress", job, at, lens, plainAt, outAt, picks, method,
 * level }` (each pick into its output slot). Out: `{ job }`, `{ job, outLens }`
 * or `{ job, error }`.
 *
 * The handler is installed before anything is awaited: a message that
 * arrives while a worker module is still evaluating is dropped if no
 * handler exists yet.
 */
import type { Compression } from "../compress/mod.ts";

// xz (liblzma's WASM, ~10 ms to compile) only once a job asks for it.
const codecs = Promise.all([
  import("./compress_pool.ts"),
  import("../compress/_zstd_encoder.ts"),
  import("node:crypto"),
]);
let xz: Promise<typeof import("../compress/compress_chunk.ts")> | undefined;

type Job =
  | { t: "init"; ring: SharedArrayBuffer }
  | { t: "hash"; job: number; at: number; idsAt: number; lens: number[]; plainAt: number[] }
  | {
    t: "compress";
    job: number;
    at: number;
    lens: number[];
    plainAt: number[];
    outAt: number[];
    picks: number[];
    method: Compression;
    level: number;
  };

let ring: Uint8Array | undefined;

self.onmessage = async (e: MessageEvent<Job>) => {
  const m = e.data;
  if (m.t === "init") {
    ring = new Uint8Array(m.ring);
    return;
  }
  try {
    const [pool, { zstdFrameInto }, { createHash }] = await codecs;
    if (m.t === "hash") {
      pool.hashInto(createHash, ring!, m.at, m.idsAt, m.lens, m.plainAt);
      self.postMessage({ job: m.job });
    } else {
      const compressChunk = m.method === "zstd"
        ? undefined
        : (await (xz ??= import("../compress/compress_chunk.ts"))).compressChunk;
      const outLens = pool.packInto(
        ring!,
        m.at,
        m.lens,
        m.plainAt,
        m.outAt,
        m.picks,
        m.method,
        m.level,
        { compressChunk, zstdFrameInto },
      );
      self.postMessage({ job: m.job, outLens });
    }
  } catch (err) {
    self.postMessage({ job: m.job, error: (err as Error).message });
  }
};
