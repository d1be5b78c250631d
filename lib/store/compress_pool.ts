/**
 * Compression on other cores. zstd-3 on binaries runs at ~120-150 MB/s per
 * core here, slower than NAR encoding, chunking and hashing together, so
 * import speed is set by how many cores compress. Async `node:zlib` measured
 * slower than sync in Deno, hence Web Workers running the sync codec.
 *
 * Chunks travel in batches (all new chunks of one NAR piece, ~1 MiB) packed
 * into one transferred buffer: a message per 64 KiB chunk cost more in
 * thread hand-offs than the compression saved.
 */
import type { Compression } from "../compress/mod.ts";

type Pending = { resolve: (b: Uint8Array[]) => void; reject: (e: Error) => void };

/** What a worker sends back: the outputs back to back, and their lengths. */
interface Reply {
  id: number;
  out?: ArrayBuffer;
  lens?: number[];
  error?: string;
}

export class CompressPool {
  #workers: Worker[] = [];
  #pending = new Map<number, Pending>();
  #id = 0;
  /** Set once a worker dies; later calls fail at once instead of waiting on it forever. */
  #broken: Error | undefined;

  /**
   * One worker fewer than cores: the main thread reads, hashes and chunks at
   * close to a core's worth, so on 2 cores a second worker only competed for
   * the same core (measured faster with one) and cost another isolate.
   */
  constructor(size = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1))) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./compress_worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (e: MessageEvent<Reply>) => {
        const p = this.#pending.get(e.data.id);
        if (!p) return;
        this.#pending.delete(e.data.id);
        if (e.data.out && e.data.lens) p.resolve(split(new Uint8Array(e.data.out), e.data.lens));
        else p.reject(new Error(`compression failed: ${e.data.error}`));
      };
      w.onerror = (e) => {
        e.preventDefault();
        this.#broken ??= new Error(`compression worker died: ${e.message}`);
        for (const p of this.#pending.values()) {
          p.reject(new Error(`compression worker died: ${e.message}`));
        }
        this.#pending.clear();
      };
      this.#workers.push(w);
    }
  }

  /** Compresses copies of `chunks` (the caller may reuse their buffers at once), in order. */
  compressMany(chunks: Uint8Array[], method: Compression, level: number): Promise<Uint8Array[]> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (chunks.length === 0) return Promise.resolve([]);
    const id = this.#id++;
    const lens = chunks.map((c) => c.length);
    const packed = new Uint8Array(lens.reduce((a, b) => a + b, 0));
    let o = 0;
    for (const c of chunks) {
      packed.set(c, o);
      o += c.length;
    }
    const w = this.#workers[id % this.#workers.length];
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      w.postMessage({ id, buf: packed.buffer, lens, method, level }, [packed.buffer]);
    });
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    for (const p of this.#pending.values()) p.reject(new Error("compression pool closed"));
    this.#pending.clear();
  }
}

function split(all: Uint8Array, lens: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  for (const n of lens) {
    out.push(all.subarray(o, o + n));
    o += n;
  }
  return out;
}

let shared: CompressPool | undefined;

/** The process's pool, started on first use. */
export function sharedPool(): CompressPool {
  return shared ??= new CompressPool();
}

/** Stops the shared pool's workers (so the process can exit); a later use starts new ones. */
export function closeSharedPool(): void {
  shared?.close();
  shared = undefined;
}
