/**
 * The dedup pipeline of the kv backend, for one NAR:
 *
 * ```
 * NAR bytes ─┬─ sha256 ─────────────────────────────────────────────▶ NarHash, NarSize
 *            └─ FastCDC ─▶ chunk ─ sha256 = id ─▶ known? ── yes ─ read stored bytes ─┐
 *                                                     └── no ─ compress ─ append to pack ─┤
 *                                                          FileHash, FileSize, manifest ◀─┘
 * ```
 * The served NAR file is the concatenation of the chunks' compressed bytes
 * (zstd frames and xz streams concatenate), so FileHash is computed here,
 * once, and serving never recompresses.
 *
 * A stream's pieces may be views into a reused buffer, so each piece is fully
 * processed before the next is pulled.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { Chunker } from "../chunk/mod.ts";
import type { Compression } from "../compress/mod.ts";
import {
  type ChunkJob,
  ChunkPool,
  closeSharedPool,
  type JobWriter,
  sharedPool,
} from "./compress_pool.ts";
import type { MetaStore } from "../kv/meta_store.ts";
import type { ChunkLocation } from "../kv/records.ts";
import type { PackReader } from "../blob/pack_reader.ts";
import { PackWriter } from "../blob/pack_writer.ts";
import type { CacheLayout } from "../blob/cache_layout.ts";
import { ManifestBuilder } from "./manifest.ts";
import { encodeHex } from "../encoding/hex.ts";

export interface IngestDeps {
  layout: CacheLayout;
  /** Without these two there is no dedup: every chunk is appended (filesystem backend). */
  meta?: MetaStore;
  packs?: PackReader;
  /**
   * A pack shared by several NARs (batched imports): new chunks are appended
   * to it and it is left open on success and on failure; the caller seals it.
   * Without one, each NAR gets its own pack, dropped on failure.
   */
  pack?: PackWriter;
  /**
   * Chunks first stored in `pack` by earlier NARs of the batch (hex id), so
   * a chunk repeated across the batch is stored once. Updated here.
   */
  fresh?: Map<string, BatchChunk>;
  /** Finds stored chunks instead of `meta.lookupChunks` (batched imports into an empty index). */
  lookup?: (ids: Uint8Array[]) => (ChunkLocation | undefined)[];
  /** Learns where packs are before `packs.isLocal` is asked (storages other than the cache dir). */
  resolve?: (packIds: string[]) => Promise<void>;
}

/**
 * A chunk an earlier NAR of the batch stores. Its place is known once that
 * NAR appends it (NARs overlap); undefined if that NAR failed first. A
 * promise is made only for a NAR that waits on it: most chunks are never
 * waited on, and one promise per chunk was much of an import's heap.
 */
export class BatchChunk {
  #settled = false;
  #loc: ChunkLocation | undefined;
  #waiters: ((loc: ChunkLocation | undefined) => void)[] | undefined;

  constructor(readonly ulen: number) {}

  /** Records where the chunk went (undefined: nowhere); only the first call counts. */
  settle(loc: ChunkLocation | undefined): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#loc = loc;
    for (const w of this.#waiters ?? []) w(loc);
    this.#waiters = undefined;
  }

  /** Resolves with where the chunk went, once it is known. */
  placed(): Promise<ChunkLocation | undefined> {
    if (this.#settled) return Promise.resolve(this.#loc);
    return new Promise((resolve) => (this.#waiters ??= []).push(resolve));
  }
}

export interface IngestOptions {
  compression: Compression;
  level: number;
  /**
   * Hash and compress on this thread instead of the pool's workers: for
   * small imports, where starting the workers (~30 ms) costs more than they save.
   */
  inline?: boolean;
  /** Called with the number of NAR bytes consumed so far (progress bars). */
  onProgress?: (narBytes: number) => void;
}

export interface IngestResult {
  narHash: Uint8Array;
  narSize: number;
  fileHash: Uint8Array;
  fileSize: number;
  manifest: ManifestBuilder;
  /** Chunks this NAR added; to be indexed once the pack is sealed. */
  newChunks: { id: Uint8Array; loc: ChunkLocation }[];
  /** Compressed bytes of `newChunks`: what storing this NAR added. */
  newBytes: number;
  /** The pack holding the new chunks (unsealed): call `seal()` or `abort()`. */
  pack: PackWriter;
}

/** Stores one NAR and resolves once all of it is stored (appended, not yet sealed). */
export async function ingestChunks(
  nar: ReadableStream<Uint8Array>,
  deps: IngestDeps,
  opts: IngestOptions,
): Promise<IngestResult> {
  return await (await ingestStart(nar, deps, opts)).rest;
}

/** A NAR read to its end whose last chunks may still be compressing. */
export interface IngestStarted {
  narHash: Uint8Array;
  narSize: number;
  /** Resolves once every chunk is appended; rejects if compression failed. */
  rest: Promise<IngestResult>;
}

/**
 * Like `ingestChunks`, but resolves as soon as the NAR has been read, hashed
 * and chunked: batched imports start reading the next NAR while the workers
 * finish this one. Only with a shared `deps.pack` (chunks of two NARs then
 * interleave in it; each manifest records its own places).
 *
 * Chunks go to the pool in jobs of ~1 MiB (compress_pool.ts). Once a job's
 * ids are back its chunks are decided on (known, a repeat, new), jobs in NAR
 * order; the new ones are compressed, and every chunk is appended in NAR
 * order as soon as its bytes are there.
 */
export async function ingestStart(
  nar: ReadableStream<Uint8Array>,
  deps: IngestDeps,
  opts: IngestOptions,
): Promise<IngestStarted> {
  const pool = opts.inline ? await inlinePool(opts.compression) : sharedPool();
  const narHasher = createHash("sha256");
  const fileHasher = createHash("sha256");
  const chunker = new Chunker();
  const pack = deps.pack ?? new PackWriter(deps.layout);
  const batchFresh = deps.fresh;
  const manifest = new ManifestBuilder(opts.compression);
  const newChunks: { id: Uint8Array; loc: ChunkLocation }[] = [];
  // Chunks first seen in this NAR, so a repeat inside it is stored once.
  const fresh = new Map<string, Slot>();
  // Decided chunks waiting to be appended, in NAR order.
  const queue: Slot[] = [];
  // This NAR's jobs not freed yet: a failure waits for their workers, then frees them.
  const jobs = new Set<Job>();
  let narSize = 0;
  let fileSize = 0;
  let newBytes = 0;
  let failure: unknown;
  const failWith = (e: unknown) => {
    failure ??= e;
  };
  const free = (j: Job) => {
    jobs.delete(j);
    j.chunks.free();
  };

  // A chunk stored elsewhere: counted in FileHash and the manifest only.
  const placed = (slot: Slot, loc: ChunkLocation, bytes: Uint8Array) => {
    fileHasher.update(bytes);
    fileSize += bytes.length;
    manifest.add(slot.id, loc);
  };

  // Appends the oldest slot's bytes in NAR order: pack, FileHash, manifest.
  const settle = async (slot: Slot) => {
    if (slot.stored) {
      // Stored before this run: read again (page cache) rather than kept
      // since it was decided on, so memory holds no copies of known chunks.
      const bytes = readStored(deps.packs!, slot.stored);
      if (!bytes) throw new Error(`stored chunk ${encodeHex(slot.id)} changed during the import`);
      return placed(slot, slot.stored, bytes);
    }
    if (slot.copyOf) {
      // Settled in order, so the first copy is appended by now.
      const loc = slot.copyOf.loc!;
      return placed(slot, loc, pack.readBack(loc.offset, scratchFor(loc.clen)));
    }
    const job = slot.job!;
    await job.compressed;
    const c = job.chunks;
    const stored = opts.compression === "none" ? c.plain(slot.k) : c.packed(slot.k);
    if (slot.elsewhere) slot.loc = await slot.elsewhere;
    // Stored in a remote pack: compressed again here (deterministic) instead
    // of downloaded; reused if the bytes are the stored ones, else stored anew.
    const r = slot.remote;
    if (r && stored.length === r.clen && crc32(stored) === r.crc) slot.loc = r;
    if (!slot.loc) {
      const crc = crc32(stored);
      // Copied into the pack's buffer: the job's room can be reused after this.
      const offset = await pack.append(stored);
      slot.loc = { pack: pack.id, offset, clen: stored.length, ulen: slot.ulen, crc };
      newChunks.push({ id: slot.id, loc: slot.loc });
      newBytes += stored.length;
      slot.shared?.settle(slot.loc);
      slot.shared = undefined;
    }
    fileHasher.update(stored);
    fileSize += stored.length;
    slot.job = undefined;
    slot.elsewhere = undefined;
    manifest.add(slot.id, slot.loc);
    if (--job.users === 0) free(job);
  };

  // Appends what is decided, in order, as soon as its bytes are there.
  let draining = false;
  let idle: (() => void) | undefined;
  const drain = async () => {
    if (draining) return;
    draining = true;
    try {
      while (queue.length && failure === undefined) {
        await settle(queue[0]);
        queue.shift();
      }
    } catch (e) {
      failWith(e);
    } finally {
      draining = false;
      idle?.();
    }
  };
  /** Resolves once everything decided is appended (or something failed). */
  const drained = () =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (draining) return;
        if (queue.length && failure === undefined) return void drain();
        idle = undefined;
        resolve();
      };
      idle = check;
      check();
    });

  // What each chunk of a hashed job is: known, a repeat, or new (to compress).
  const decide = async (job: Job) => {
    const c = job.chunks;
    await c.hashed;
    const ids: Uint8Array[] = [];
    for (let k = 0; k < c.count; k++) ids.push(copyId(c.id(k)));
    const known = deps.lookup
      ? deps.lookup(ids)
      : deps.meta
      ? await deps.meta.lookupChunks(opts.compression, ids)
      : [];
    if (deps.resolve) {
      await deps.resolve([...new Set(known.flatMap((l) => l ? [l.pack] : []))]);
    }
    const picks: number[] = [];
    for (let k = 0; k < c.count; k++) {
      const id = ids[k];
      const key = encodeHex(id);
      const first = fresh.get(key);
      let slot: Slot;
      if (first) {
        // A repeat inside this NAR: same place as the first copy, whose
        // stored bytes are read back for FileHash rather than made again.
        slot = new Slot(id, first.ulen);
        slot.copyOf = first;
      } else {
        const inBatch = batchFresh?.get(key);
        const loc = known[k];
        const remote = !inBatch && loc && deps.packs && !deps.packs.isLocal(loc.pack);
        const intact = !inBatch && !remote && loc && deps.packs &&
          readStored(deps.packs, loc) !== undefined;
        if (intact) {
          slot = new Slot(id, loc.ulen);
          slot.stored = loc;
        } else {
          slot = new Slot(id, c.lens[k]);
          slot.job = job;
          slot.k = k;
          picks.push(k);
          if (remote) {
            // Not in `fresh`: a repeat is looked up (and compressed) again, as
            // the first copy may not be in this NAR's pack.
            slot.remote = loc;
          } else if (inBatch) {
            // Stored by an earlier NAR of this batch, in the unsealed pack: its
            // bytes are made again for FileHash (compression is deterministic).
            slot.elsewhere = inBatch.placed();
          } else {
            // Without a chunk index (filesystem backend) the pack is the NAR
            // file itself: a repeat is appended again, so it is not looked up.
            if (deps.meta) fresh.set(key, slot);
            if (batchFresh) {
              slot.shared = new BatchChunk(slot.ulen);
              batchFresh.set(key, slot.shared);
            }
          }
        }
      }
      queue.push(slot);
    }
    job.users = picks.length;
    if (picks.length && opts.compression !== "none") {
      job.compressed = pool.compress(c, picks, opts.compression, opts.level);
      job.compressed.catch(() => {}); // observed when settled
    }
    // Nothing of it is needed any more: its room is free for the next jobs.
    if (picks.length === 0) free(job);
    void drain();
  };

  // Jobs are decided one after the other, in NAR order.
  let decided: Promise<void> = Promise.resolve();
  let writer: JobWriter | undefined;
  const send = () => {
    const w = writer;
    writer = undefined;
    if (!w) return;
    if (w.lens.length === 0) return w.cancel();
    const job = new Job(w.submit());
    jobs.add(job);
    decided = decided.then(() => failure === undefined ? decide(job) : undefined).catch(failWith);
  };
  // Chunks are views of the piece just read: they are copied into a job before the next is read.
  const take = async (chunks: Uint8Array[]) => {
    for (const c of chunks) {
      if (writer && !writer.fits(c.length)) send();
      // Waits for room when the pipeline is full: reading slows to its pace.
      writer ??= await pool.open();
      writer.add(c);
    }
    if (failure !== undefined) throw failure;
  };

  try {
    for await (const piece of nar) {
      narHasher.update(piece);
      narSize += piece.length;
      await take(chunker.push(piece));
      opts.onProgress?.(narSize);
    }
    await take(chunker.finish());
    send();
  } catch (e) {
    failWith(e);
    await fail();
    throw e;
  }
  const finish = async (): Promise<IngestResult> => {
    await decided;
    await drained();
    if (failure !== undefined) {
      await fail();
      throw failure;
    }
    return {
      narHash: digest,
      narSize,
      fileHash: new Uint8Array(fileHasher.digest()),
      fileSize,
      manifest,
      newChunks,
      newBytes,
      pack,
    };
  };
  const digest = new Uint8Array(narHasher.digest());
  const rest = finish();
  rest.catch(() => {}); // the caller observes it; not an unhandled rejection meanwhile
  return { narHash: digest, narSize, rest };

  async function fail(): Promise<void> {
    writer?.cancel();
    writer = undefined;
    // An append under way still reads its job's room.
    await drained();
    // NARs waiting for a chunk this one will not append now store it themselves.
    for (const s of fresh.values()) s.shared?.settle(s.loc);
    // Workers may still write into the jobs' room: let them finish first.
    await decided;
    await Promise.allSettled([...jobs].flatMap((j) => [j.chunks.hashed, j.compressed]));
    for (const j of [...jobs]) free(j);
    if (!deps.pack) pack.abort();
  }
}

/** One job of this NAR: its chunks in the pool, and how many slots still need its bytes. */
class Job {
  compressed: Promise<void> = Promise.resolve();
  users = 0;
  constructor(readonly chunks: ChunkJob) {}
}

/**
 * One chunk of the NAR on its way to the pack. A class so every slot has
 * the same shape from the start: slots of new chunks live until the NAR is
 * stored (a repeat may point at them), and properties added later cost a
 * separate property array per slot.
 */
class Slot {
  /** The job holding its plain and compressed bytes, until the slot is settled. */
  job: Job | undefined = undefined;
  /** Its index in `job`. */
  k = 0;
  /** Where a new chunk's bytes went, once appended. */
  loc: ChunkLocation | undefined = undefined;
  /** Where a chunk stored before this run is (its bytes are read again when settled). */
  stored: ChunkLocation | undefined = undefined;
  /** Where a chunk is stored in a remote pack: reused if compressing it gives the same bytes. */
  remote: ChunkLocation | undefined = undefined;
  /** The first slot of this NAR with the same chunk (its bytes are read back when settled). */
  copyOf: Slot | undefined = undefined;
  /** Where another NAR of the batch stores this chunk (undefined: store it here). */
  elsewhere: Promise<ChunkLocation | undefined> | undefined = undefined;
  /** Tells NARs of the batch that wait for this chunk where it went, until it is placed. */
  shared: BatchChunk | undefined = undefined;

  constructor(readonly id: Uint8Array, readonly ulen: number) {}
}

/** Chunk ids are cut from shared slabs: an ArrayBuffer per 32-byte id cost ~200 bytes more. */
const ID_SLAB = 32 * 2048;
let idSlab = new Uint8Array(ID_SLAB);
let idUsed = 0;

/** A copy of a chunk's id (out of its job's room, which is reused), in the current slab. */
function copyId(view: Uint8Array): Uint8Array {
  if (idUsed === ID_SLAB) {
    idSlab = new Uint8Array(ID_SLAB);
    idUsed = 0;
  }
  const id = idSlab.subarray(idUsed, idUsed + 32);
  id.set(view);
  idUsed += 32;
  return id;
}

const inline = new Map<Compression, Promise<ChunkPool>>();

/** A pool that works on the calling thread (one per method). */
function inlinePool(method: Compression): Promise<ChunkPool> {
  let p = inline.get(method);
  if (!p) inline.set(method, p = ChunkPool.inline(method));
  return p;
}

/** Stops the compression workers (so the process can exit). */
export const closeIngest = closeSharedPool;

/** Reused for reading stored chunks: one is read and hashed at a time. */
let scratch = new Uint8Array(256 << 10);

/** `scratch`, grown to at least `n` bytes, as a view of exactly `n`. */
function scratchFor(n: number): Uint8Array {
  if (scratch.length < n) scratch = new Uint8Array(n);
  return scratch.subarray(0, n);
}

/**
 * The stored bytes of a known chunk (a view valid until the next call), or
 * undefined if its copy is missing or damaged (then it is stored anew).
 */
function readStored(packs: PackReader, loc: ChunkLocation): Uint8Array | undefined {
  try {
    const bytes = packs.readIntoSync(loc.pack, loc.offset, scratchFor(loc.clen));
    return crc32(bytes) === loc.crc ? bytes : undefined;
  } catch {
    return undefined;
  }
}
