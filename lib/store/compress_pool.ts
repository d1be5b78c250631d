/**
 * Compression on the other cores. zstd-3 on binaries runs at ~120-150 MB/s
 * per core here, slower than NAR encoding, chunking and hashing together, so
 * import speed is set by how many cores compress. Async `node:zlib` measured
 * slower than sync in Deno, hence Web Workers running the sync codec. One
 * core stays with the main thread (NAR encoding, chunking, hashing), the
 * rest compress.
 */
import type { Compression } from "../compress/mod.ts";

type Pending = { resolve: (b: Uint8Array) => void; reject: (e: Error) => void };

export class CompressPool {
  #workers: Worker[] = [];
  #pending = new Map<number, Pending>();
  #id = 0;
  /** Set once a worker dies; later calls fail at once instead of waiting on it forever. */
  #broken: Error | undefined;

  constructor(size = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1))) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./compress_worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (e: MessageEvent<{ id: number; out?: Uint8Array; error?: string }>) => {
        const p = this.#pending.get(e.data.id);
        if (!p) return;
        this.#pending.delete(e.data.id);
        if (e.data.out) p.resolve(e.data.out);
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

  /** Compresses a copy of `data` (the caller may reuse its buffer at once). */
  compress(data: Uint8Array, method: Compression, level: number): Promise<Uint8Array> {
    if (this.#broken) return Promise.reject(this.#broken);
    const id = this.#id++;
    const buf = data.slice().buffer;
    const w = this.#workers[id % this.#workers.length];
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      w.postMessage({ id, buf, method, level }, [buf]);
    });
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    for (const p of this.#pending.values()) p.reject(new Error("compression pool closed"));
    this.#pending.clear();
  }
}
