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
import { closeSharedPool, sharedPool } from "./compress_pool.ts";
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
 */
export async function ingestStart(
  nar: ReadableStream<Uint8Array>,
  deps: IngestDeps,
  opts: IngestOptions,
): Promise<IngestStarted> {
  const narHasher = createHash("sha256");
  const fileHasher = createHash("sha256");
  const chunker = new Chunker();
  const pack = deps.pack ?? new PackWriter(deps.layout);
  const batchFresh = deps.fresh;
  const manifest = new ManifestBuilder(opts.compression);
  const newChunks: { id: Uint8Array; loc: ChunkLocation }[] = [];
  // Chunks first seen in this NAR, so a repeat inside it is stored once.
  const fresh = new Map<string, Slot>();
  // Chunks in order, waiting for their compressed bytes; bounded so memory stays flat.
  const queue: Slot[] = [];
  let narSize = 0;
  let fileSize = 0;
  let newBytes = 0;

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
      // since `take`, so memory holds no copies of known chunks.
      const bytes = readStored(deps.packs!, slot.stored);
      if (!bytes) throw new Error(`stored chunk ${encodeHex(slot.id)} changed during the import`);
      return placed(slot, slot.stored, bytes);
    }
    if (slot.copyOf) {
      // Settled in order, so the first copy is appended by now.
      const loc = slot.copyOf.loc!;
      return placed(slot, loc, pack.readBack(loc.offset, scratchFor(loc.clen)));
    }
    const stored = await slot.bytes!;
    // Only the place is remembered, not the bytes: memory stays flat.
    slot.bytes = undefined;
    if (slot.elsewhere) slot.loc = await slot.elsewhere;
    // Stored in a remote pack: compressed again here (deterministic) instead
    // of downloaded; reused if the bytes are the stored ones, else stored anew.
    const r = slot.remote;
    if (r && stored.length === r.clen && crc32(stored) === r.crc) slot.loc = r;
    if (!slot.loc) {
      const offset = await pack.append(stored);
      slot.loc = {
        pack: pack.id,
        offset,
        clen: stored.length,
        ulen: slot.ulen,
        crc: crc32(stored),
      };
      newChunks.push({ id: slot.id, loc: slot.loc });
      newBytes += stored.length;
      slot.shared?.settle(slot.loc);
      slot.shared = undefined;
    }
    fileHasher.update(stored);
    fileSize += stored.length;
    slot.release?.();
    slot.release = undefined;
    slot.elsewhere = undefined;
    manifest.add(slot.id, slot.loc);
  };

  const take = async (chunks: Uint8Array[]) => {
    if (chunks.length === 0) return;
    const ids = chunks.map(chunkId);
    const known = deps.lookup
      ? deps.lookup(ids)
      : deps.meta
      ? await deps.meta.lookupChunks(opts.compression, ids)
      : [];
    if (deps.resolve) {
      await deps.resolve([...new Set(known.flatMap((l) => l ? [l.pack] : []))]);
    }
    const slots: Slot[] = [];
    const toCompress: Uint8Array[] = [];
    const waiting: Slot[] = [];
    for (let i = 0; i < chunks.length; i++) {
      const id = ids[i];
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
        const loc = known[i];
        const remote = !inBatch && loc && deps.packs && !deps.packs.isLocal(loc.pack);
        const intact = !inBatch && !remote && loc && deps.packs &&
          readStored(deps.packs, loc) !== undefined;
        if (remote) {
          // Not in `fresh`: a repeat is looked up (and compressed) again, as
          // the first copy may not be in this NAR's pack.
          slot = new Slot(id, chunks[i].length);
          slot.remote = loc;
          toCompress.push(chunks[i]);
          waiting.push(slot);
        } else if (inBatch) {
          // Stored by an earlier NAR of this batch, in the unsealed pack: its
          // bytes are made again for FileHash (compression is deterministic).
          slot = new Slot(id, inBatch.ulen);
          slot.elsewhere = inBatch.placed();
          toCompress.push(chunks[i]);
          waiting.push(slot);
        } else if (intact) {
          slot = new Slot(id, loc.ulen);
          slot.stored = loc;
        } else {
          slot = new Slot(id, chunks[i].length);
          // Without a chunk index (filesystem backend) the pack is the NAR
          // file itself: a repeat is appended again, so it is not looked up.
          if (deps.meta) fresh.set(key, slot);
          if (batchFresh) {
            slot.shared = new BatchChunk(slot.ulen);
            batchFresh.set(key, slot.shared);
          }
          toCompress.push(chunks[i]);
          waiting.push(slot);
        }
      }
      slots.push(slot);
    }
    // One hand-off for all new chunks of this piece, once the workers have room.
    const bytes = toCompress.reduce((n, c) => n + c.length, 0);
    await inFlight.acquire(bytes);
    const batch = compressAll(toCompress, opts);
    batch.finally(() => inFlight.release(bytes)).catch(() => {});
    batch.catch(() => {}); // observed through the slots
    // The compressed batch is one buffer: freed once every slot is appended
    // (copied into the pack) rather than whenever V8 gets to it.
    let left = waiting.length;
    const release = () => {
      if (--left === 0) batch.then(freeBuffers, () => {});
    };
    waiting.forEach((slot, k) => {
      slot.bytes = batch.then((out) => out[k]);
      slot.release = release;
    });
    for (const slot of slots) {
      queue.push(slot);
      while (queue.length > IN_FLIGHT) await settle(queue.shift()!);
    }
  };

  try {
    for await (const piece of nar) {
      narHasher.update(piece);
      narSize += piece.length;
      await take(chunker.push(piece));
      opts.onProgress?.(narSize);
    }
    await take(chunker.finish());
  } catch (e) {
    await fail();
    throw e;
  }
  const finish = async (): Promise<IngestResult> => {
    try {
      while (queue.length) await settle(queue.shift()!);
    } catch (e) {
      await fail();
      throw e;
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
    // NARs waiting for a chunk this one will not append now store it themselves.
    for (const s of fresh.values()) s.shared?.settle(s.loc);
    // Let in-flight compressions finish quietly before dropping the pack.
    await Promise.allSettled(queue.map((s) => s.bytes));
    if (!deps.pack) pack.abort();
  }
}

/**
 * One chunk of the NAR on its way to the pack. A class so every slot has
 * the same shape from the start: slots of new chunks live until the NAR is
 * stored (a repeat may point at them), and properties added later cost a
 * separate property array per slot.
 */
class Slot {
  /** The stored bytes until the slot is settled. */
  bytes: Promise<Uint8Array> | undefined = undefined;
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
  /** Says this slot is done with its compressed bytes. */
  release: (() => void) | undefined = undefined;
  /** Tells NARs of the batch that wait for this chunk where it went, until it is placed. */
  shared: BatchChunk | undefined = undefined;

  constructor(readonly id: Uint8Array, readonly ulen: number) {}
}

/** Chunk ids are cut from shared slabs: an ArrayBuffer per 32-byte id cost ~200 bytes more. */
const ID_SLAB = 32 * 2048;
let idSlab = new Uint8Array(ID_SLAB);
let idUsed = 0;

/** The chunk's id (its sha256), as a view into the current slab. */
function chunkId(chunk: Uint8Array): Uint8Array {
  if (idUsed === ID_SLAB) {
    idSlab = new Uint8Array(ID_SLAB);
    idUsed = 0;
  }
  const id = idSlab.subarray(idUsed, idUsed + 32);
  id.set(createHash("sha256").update(chunk).digest());
  idUsed += 32;
  return id;
}

/** Chunks of one NAR waiting to be appended in order. */
const IN_FLIGHT = 128;

/**
 * Plain bytes handed to the workers and not yet compressed, over every NAR
 * being stored: a few pieces per worker keep it busy. Bounding bytes rather
 * than chunks per NAR keeps memory flat when many small NARs overlap.
 */
const IN_FLIGHT_BYTES = 4 << 20;

class ByteBudget {
  #used = 0;
  #waiting: (() => void)[] = [];
  constructor(readonly limit: number) {}
  /** Waits until `n` more bytes fit (a piece larger than the limit goes alone). */
  async acquire(n: number): Promise<void> {
    while (this.#used > 0 && this.#used + n > this.limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#used += n;
  }
  release(n: number): void {
    this.#used -= n;
    for (const w of this.#waiting.splice(0)) w();
  }
}

const inFlight = new ByteBudget(IN_FLIGHT_BYTES);

function compressAll(chunks: Uint8Array[], opts: IngestOptions): Promise<Uint8Array[]> {
  if (chunks.length === 0) return Promise.resolve([]);
  if (opts.compression === "none") return Promise.resolve(chunks.map((c) => c.slice()));
  return sharedPool().compressMany(chunks, opts.compression, opts.level);
}

/** Stops the compression workers (so the process can exit). */
export const closeIngest = closeSharedPool;

/** Frees the buffers under `views` now (nothing may use them afterwards). */
function freeBuffers(views: Uint8Array[]): void {
  for (const b of new Set(views.map((v) => v.buffer))) {
    if (b instanceof ArrayBuffer && !b.detached) b.transfer(0);
  }
}

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
