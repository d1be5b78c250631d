/**
 * The import pipeline's other threads. A job is ~1 MiB of a NAR's chunks,
 * copied once into a ring of shared memory; a worker hashes every chunk of
 * it (the chunk ids), and once the main thread has looked the ids up, a
 * worker compresses the new ones into the same job's region, where the main
 * thread appends them to the pack from. The main thread keeps the NAR's own
 * hashes, the cutting and the lookups: with the ids hashed there too it was
 * the slowest stage, and one worker compressing waited on it.
 *
 * Shared memory instead of transferred buffers: a fresh buffer per batch,
 * and its result, cost page faults and garbage that a ring reused from the
 * start does not (the ring's pages fault in once).
 *
 * ```
 * main:   cut ─ copy into ring ─┐        ┌─ look ids up ─┐        ┌─ FileHash, append to pack
 * worker:                       └─ hash ─┘               └─ zstd ─┘
 * ```
 *
 * `ChunkPool.inline()` does the same work on the calling thread: for a
 * small import (the post-build hook), starting workers costs more than it
 * saves.
 */
import type { Compression } from "../compress/compression.ts";
import { ByteRing } from "./_byte_ring.ts";

/** Plain bytes per job: one message each way per ~16 chunks, and many jobs in flight. */
export const JOB_BYTES = 1 << 20;

/** Shared memory for jobs: ~7 of 1 MiB in flight (each takes about twice its size). */
const RING_BYTES = 16 << 20;

/** Room that always holds the compressed form of `n` bytes: zstd's frame bound, xz's overhead. */
export function outBound(n: number): number {
  const zstd = n + (n >>> 8) + (n < 131072 ? (131072 - n) >>> 11 : 0) + 32;
  return Math.max(zstd, n + (n >>> 10) + 256);
}

/** Room for one job: its chunks, then their ids, then room for each output. */
const REGION_BYTES = 2 * JOB_BYTES + 128 * 1024;

/** A job being filled: chunks are copied in as they are cut (the caller's memory is reused). */
export class JobWriter {
  readonly lens: number[] = [];
  #plain = 0;
  #outs = 0;
  #done = false;

  constructor(private pool: ChunkPool, private ring: Uint8Array, readonly at: number) {}

  /** Plain bytes in the job so far. */
  get bytes(): number {
    return this.#plain;
  }

  /** Whether a chunk of `n` bytes still fits (a job is ~JOB_BYTES of plain bytes). */
  fits(n: number): boolean {
    return this.#plain + n <= JOB_BYTES || this.lens.length === 0;
  }

  /** Copies `chunk` in. */
  add(chunk: Uint8Array): void {
    this.ring.set(chunk, this.at + this.#plain);
    this.lens.push(chunk.length);
    this.#plain += chunk.length;
    this.#outs += outBound(chunk.length);
  }

  /** Starts hashing the chunks added; the job's room shrinks to what it needs. */
  submit(): ChunkJob {
    if (this.#done) throw new Error("job submitted twice");
    this.#done = true;
    const plainAt: number[] = [];
    const outAt: number[] = [];
    let o = 0;
    for (const n of this.lens) {
      plainAt.push(o);
      o += n;
    }
    const idsAt = o;
    o += 32 * this.lens.length;
    for (const n of this.lens) {
      outAt.push(o);
      o += outBound(n);
    }
    this.pool.trim(this.at, o);
    const hashed = this.pool.hashJob(this.at, idsAt, this.lens, plainAt);
    hashed.catch(() => {});
    return new ChunkJob(this.pool, this.ring, this.at, idsAt, this.lens, plainAt, outAt, hashed);
  }

  /** Gives the room back unhashed (the NAR failed). */
  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.pool.give(this.at);
  }
}

/** Chunks of one job in the ring, from hashing to their last append. */
export class ChunkJob {
  /** Compressed lengths, once `compress` has resolved (0 where not picked). */
  readonly outLens: number[];
  #freed = false;

  constructor(
    private pool: ChunkPool,
    private ring: Uint8Array,
    readonly at: number,
    private idsAt: number,
    readonly lens: number[],
    private plainAt: number[],
    private outAt: number[],
    /** Resolves once every chunk's id is written. */
    readonly hashed: Promise<void>,
  ) {
    this.outLens = new Array(lens.length).fill(0);
  }

  get count(): number {
    return this.lens.length;
  }

  /** Chunk `k`'s sha256, valid until the job is freed. */
  id(k: number): Uint8Array {
    const s = this.at + this.idsAt + 32 * k;
    return this.ring.subarray(s, s + 32);
  }

  /** Chunk `k`'s plain bytes, valid until the job is freed. */
  plain(k: number): Uint8Array {
    const s = this.at + this.plainAt[k];
    return this.ring.subarray(s, s + this.lens[k]);
  }

  /** Chunk `k`'s compressed bytes (after `compress`), valid until the job is freed. */
  packed(k: number): Uint8Array {
    const s = this.at + this.outAt[k];
    return this.ring.subarray(s, s + this.outLens[k]);
  }

  /** Gives the region back (safe to call again); nothing may read the job afterwards. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.pool.give(this.at);
  }

  /** @internal the region's offsets for the workers. */
  get offsets(): { idsAt: number; plainAt: number[]; outAt: number[] } {
    return { idsAt: this.idsAt, plainAt: this.plainAt, outAt: this.outAt };
  }
}

type Reply = { job: number; outLens?: number[]; error?: string };

interface Worker_ {
  w: Worker;
  /** Bytes of work posted and not answered (compression counts fourfold). */
  load: number;
}

/** Hashing and compression of chunk jobs, on workers or on this thread. */
export abstract class ChunkPool {
  readonly ring: Uint8Array;
  #space: ByteRing;
  #waiting: (() => void)[] = [];

  protected constructor(memory: ArrayBufferLike) {
    this.ring = new Uint8Array(memory);
    this.#space = new ByteRing(this.ring.length);
  }

  /** Room for a new job, once there is some: the pipeline's memory is this ring. */
  async open(): Promise<JobWriter> {
    let at = this.#space.take(REGION_BYTES);
    while (at === undefined) {
      await new Promise<void>((r) => this.#waiting.push(r));
      at = this.#space.take(REGION_BYTES);
    }
    return new JobWriter(this, this.ring, at);
  }

  /** Compresses the chunks `picks` of `job` into its region; their lengths land in `outLens`. */
  async compress(job: ChunkJob, picks: number[], method: Compression, level: number) {
    const out = await this.pack(job.at, job.lens, job.offsets, picks, method, level);
    for (let i = 0; i < picks.length; i++) job.outLens[picks[i]] = out[i];
  }

  /** @internal */
  give(at: number): void {
    this.#space.give(at);
    for (const w of this.#waiting.splice(0)) w();
  }

  /** @internal */
  trim(at: number, n: number): void {
    this.#space.trim(at, n);
    for (const w of this.#waiting.splice(0)) w();
  }

  /** @internal */
  hashJob(at: number, idsAt: number, lens: number[], plainAt: number[]): Promise<void> {
    return this.hash(at, idsAt, lens, plainAt);
  }

  protected abstract hash(
    at: number,
    idsAt: number,
    lens: number[],
    plainAt: number[],
  ): Promise<void>;
  protected abstract pack(
    at: number,
    lens: number[],
    offsets: { idsAt: number; plainAt: number[]; outAt: number[] },
    picks: number[],
    method: Compression,
    level: number,
  ): Promise<number[]>;
  abstract close(): void;

  /**
   * Hashing and compression on this thread (loads the codecs first: xz's
   * WASM, ~10 ms to compile, only for `xz`).
   */
  static async inline(method: Compression): Promise<ChunkPool> {
    const compressChunk = method === "zstd"
      ? undefined
      : (await import("../compress/compress_chunk.ts")).compressChunk;
    const { zstdFrameInto } = await import("../compress/_zstd_encoder.ts");
    const { createHash } = await import("node:crypto");
    return new InlinePool(compressChunk, zstdFrameInto, createHash);
  }
}

type CreateHash = typeof import("node:crypto").createHash;

/** Writes the sha256 of each chunk of the job at `at` into its ids. Shared with the worker. */
export function hashInto(
  createHash: CreateHash,
  ring: Uint8Array,
  at: number,
  idsAt: number,
  lens: number[],
  plainAt: number[],
): void {
  for (let k = 0; k < lens.length; k++) {
    const s = at + plainAt[k];
    const id = createHash("sha256").update(ring.subarray(s, s + lens[k])).digest();
    ring.set(id, at + idsAt + 32 * k);
  }
}

class InlinePool extends ChunkPool {
  constructor(
    readonly compressChunk:
      | typeof import("../compress/compress_chunk.ts").compressChunk
      | undefined,
    readonly zstdFrameInto: typeof import("../compress/_zstd_encoder.ts").zstdFrameInto,
    private createHash: CreateHash,
  ) {
    super(new ArrayBuffer(RING_BYTES >> 1));
  }

  protected hash(at: number, idsAt: number, lens: number[], plainAt: number[]): Promise<void> {
    try {
      hashInto(this.createHash, this.ring, at, idsAt, lens, plainAt);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  protected pack(
    at: number,
    lens: number[],
    { plainAt, outAt }: { idsAt: number; plainAt: number[]; outAt: number[] },
    picks: number[],
    method: Compression,
    level: number,
  ): Promise<number[]> {
    try {
      return Promise.resolve(
        packInto(this.ring, at, lens, plainAt, outAt, picks, method, level, this),
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  close(): void {}
}

/** Compresses `picks` into their output slots; returns their lengths. Shared with the worker. */
export function packInto(
  ring: Uint8Array,
  at: number,
  lens: number[],
  plainAt: number[],
  outAt: number[],
  picks: number[],
  method: Compression,
  level: number,
  codec: {
    /** Only for methods other than zstd (the worker loads xz when a job needs it). */
    compressChunk?: typeof import("../compress/compress_chunk.ts").compressChunk;
    zstdFrameInto: typeof import("../compress/_zstd_encoder.ts").zstdFrameInto;
  },
): number[] {
  const out: number[] = [];
  for (const k of picks) {
    const s = at + plainAt[k];
    const plain = ring.subarray(s, s + lens[k]);
    const o = at + outAt[k];
    const room = ring.subarray(o, o + outBound(lens[k]));
    if (method === "zstd") {
      out.push(codec.zstdFrameInto(plain, level, room, 0));
    } else {
      const c = codec.compressChunk!(plain, method, level);
      if (c.length > room.length) throw new RangeError(`${method} output exceeds its bound`);
      room.set(c);
      out.push(c.length);
    }
  }
  return out;
}

/** The workers: ids and compression of jobs posted to them, answers by job number. */
export class WorkerPool extends ChunkPool {
  #workers: Worker_[] = [];
  #pending = new Map<
    number,
    { resolve: (r: Reply) => void; reject: (e: Error) => void; w: Worker_; cost: number }
  >();
  #next = 0;
  #turn = 0;
  /** Set once a worker dies; later calls fail at once instead of waiting on it forever. */
  #broken: Error | undefined;

  /**
   * One worker fewer than cores, up to 4: the main thread reads, hashes the
   * NAR and cuts it at about the pace one worker hashes the chunks and
   * compresses them (zstd-3). On 2 cores a second worker only competed for
   * the same cores and cost another isolate (measured: 1.03 against 0.94 s
   * of CPU for a 128 MiB NAR, no faster).
   */
  constructor(size = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1))) {
    super(new SharedArrayBuffer(RING_BYTES));
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./compress_worker.ts", import.meta.url), { type: "module" });
      const me: Worker_ = { w, load: 0 };
      w.onmessage = (e: MessageEvent<Reply>) => {
        const p = this.#pending.get(e.data.job);
        if (!p) return;
        this.#pending.delete(e.data.job);
        p.w.load -= p.cost;
        if (e.data.error !== undefined) p.reject(new Error(`compression failed: ${e.data.error}`));
        else p.resolve(e.data);
      };
      w.onerror = (e) => {
        e.preventDefault();
        this.#fail(new Error(`compression worker died: ${e.message}`));
      };
      w.postMessage({ t: "init", ring: this.ring.buffer });
      this.#workers.push(me);
    }
  }

  #fail(e: Error): void {
    this.#broken ??= e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  #post(w: Worker_, cost: number, msg: Record<string, unknown>): Promise<Reply> {
    if (this.#broken) return Promise.reject(this.#broken);
    const job = this.#next++;
    w.load += cost;
    return new Promise((resolve, reject) => {
      this.#pending.set(job, { resolve, reject, w, cost });
      w.w.postMessage({ ...msg, job });
    });
  }

  /** The worker with the least work queued (ties: the next in turn). */
  #pick(): Worker_ {
    let best = this.#workers[this.#turn++ % this.#workers.length];
    for (const w of this.#workers) if (w.load < best.load) best = w;
    return best;
  }

  protected async hash(
    at: number,
    idsAt: number,
    lens: number[],
    plainAt: number[],
  ): Promise<void> {
    const bytes = lens.reduce((a, b) => a + b, 0);
    await this.#post(this.#pick(), bytes, { t: "hash", at, idsAt, lens, plainAt });
  }

  protected async pack(
    at: number,
    lens: number[],
    { plainAt, outAt }: { idsAt: number; plainAt: number[]; outAt: number[] },
    picks: number[],
    method: Compression,
    level: number,
  ): Promise<number[]> {
    let bytes = 0;
    for (const k of picks) bytes += lens[k];
    const r = await this.#post(this.#pick(), 4 * bytes, {
      t: "compress",
      at,
      lens,
      plainAt,
      outAt,
      picks,
      method,
      level,
    });
    return r.outLens!;
  }

  close(): void {
    for (const w of this.#workers) w.w.terminate();
    this.#workers = [];
    this.#fail(new Error("compression pool closed"));
  }
}

let shared: WorkerPool | undefined;

/** The process's workers, started on first use (or by `startSharedPool`, ahead of it). */
export function sharedPool(): WorkerPool {
  return shared ??= new WorkerPool();
}

/** Starts the workers now: they load their codecs while the caller does other work. */
export function startSharedPool(): void {
  sharedPool();
}

/** Stops the shared pool's workers (so the process can exit); a later use starts new ones. */
export function closeSharedPool(): void {
  shared?.close();
  shared = undefined;
}
