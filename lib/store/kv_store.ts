/**
 * The default backend: chunks deduplicated into packs, metadata in Deno KV.
 *
 * Import order, each step safe to interrupt:
 * 1. stream the NAR through `ingestChunks` (new chunks go to a pack under tmp/)
 * 2. check NarHash/NarSize against what Nix recorded
 * 3. seal the pack (fsync, rename into packs/), write the manifest
 * 4. index the new chunks
 * 5. one atomic commit: narinfo record, NAR file record, counters, audit
 * Only step 5 makes the path visible, and only after its references are.
 */
import { encodeNix32 } from "../encoding/mod.ts";
import type { Hash } from "../hash/mod.ts";
import type { NarInfo } from "../narinfo/mod.ts";
import { parseStorePath, parseStorePathBase } from "../store_path/mod.ts";
import type { CacheLayout } from "../blob/cache_layout.ts";
import { prepareDirs } from "../blob/atomic_file.ts";
import { PackReader } from "../blob/pack_reader.ts";
import { FsBlobStore } from "../blob/fs_blob_store.ts";
import type { StorageSet } from "../blob/storage_set.ts";
import { MetaStore } from "../kv/meta_store.ts";
import type { AuditEvent, NarFileRecord } from "../kv/records.ts";
import type { IngestResult } from "./ingest_chunks.ts";
import { closeSharedPool } from "./compress_pool.ts";
import type { FetchedChunk } from "./ingest_fetched.ts";
import { decodeManifest, type Manifest } from "./manifest.ts";
import { parseNarFileName } from "./nar_file_name.ts";
import { type Extent, extentParts, narExtents, packEnds } from "./nar_extents.ts";
import { extentStream } from "./extent_stream.ts";
import { LOCAL, PackPlaces } from "./pack_places.ts";
import { FileBody } from "../blob/file_body.ts";
import { findStoredNar, recordStoredNar } from "./stored_nar.ts";
import { narinfoToRecord, recordToNarinfo, withSegments } from "./record_narinfo.ts";
import {
  type ImportResult,
  MissingReferencesError,
  type NarBody,
  NarFileGoneError,
  type PathMeta,
  type PublishOptions,
  type StorageStatus,
  type Store,
  type StoredNar,
  type StoreNarOptions,
  type StoreStatus,
} from "./store.ts";

/** Reads are grouped into runs of adjacent chunks up to this size. */
const RUN_BYTES = 256 * 1024;
const MANIFEST_CACHE = 1024;
const FILE_CACHE = 16384;

const REVERIFY_MS = 10 * 60_000;

/*
 * The import pipeline (hashing, chunking, compression workers) and node:zlib
 * are loaded when first needed: a server answering narinfos, a status or a
 * list loads none of it (node:crypto and node:zlib alone took ~25 ms of
 * every start).
 */
const loadIngest = () => import("./ingest_chunks.ts");
/** Signing (ed25519 through node:crypto) with it. */
const loadPublish = () => import("./publish_helpers.ts");
const loadCrc32 = async () => (await import("node:zlib")).crc32;

/** Groups chunks stored next to each other in one pack into reads of up to RUN_BYTES. */
function* runs(
  m: Manifest,
  from: number,
  end: number,
): Generator<{ i: number; j: number; len: number }> {
  let i = from;
  let pos = 0;
  while (i < m.chunks.length && pos < end) {
    const first = m.chunks[i];
    let j = i + 1;
    let len = first.clen;
    while (
      j < m.chunks.length && len < RUN_BYTES && pos + len < end &&
      m.chunks[j].pack === first.pack && m.chunks[j].offset === first.offset + len
    ) len += m.chunks[j++].clen;
    yield { i, j, len };
    pos += len;
    i = j;
  }
}

export class KvStore implements Store {
  readonly backend = "kv" as const;
  #manifests = new Map<string, Manifest>();
  #verified = new Map<string, number>();
  #files = new Map<string, NarFileRecord>();

  private constructor(
    readonly layout: CacheLayout,
    readonly meta: MetaStore,
    readonly packs: PackReader,
    /** Where packs and manifests are: the cache dir, or the configured storages. */
    readonly places: PackPlaces,
  ) {}

  /**
   * Opens the cache at `layout`. `storages` are where new packs and
   * manifests go (default: the cache dir alone, named "local"); the cache
   * dir stays readable in any case.
   */
  static async open(layout: CacheLayout, opts: { storages?: StorageSet } = {}): Promise<KvStore> {
    await prepareDirs([layout.root, layout.packs, layout.manifests, layout.logs], layout.tmp);
    const set = opts.storages ?? PackPlaces.localSet(layout);
    for (const e of set.all()) {
      if (e.name !== LOCAL && e.store instanceof FsBlobStore) await e.store.prepare();
    }
    const meta = await MetaStore.open(layout.db);
    const places = await PackPlaces.open(set, meta);
    const packs = places.localOnly ? new PackReader(layout) : new PackReader(layout, places);
    return new KvStore(layout, meta, packs, places);
  }

  async getNarinfo(hashPart: string): Promise<NarInfo | undefined> {
    const r = await this.meta.getNar(hashPart);
    return r && recordToNarinfo(r);
  }

  async *list(): AsyncIterable<NarInfo> {
    for await (const [, r] of this.meta.listNars()) yield recordToNarinfo(r);
  }

  findNar(narHash: Hash): Promise<StoredNar | undefined> {
    return findStoredNar(this.meta, narHash);
  }

  storeNar(nar: ReadableStream<Uint8Array>, opts: StoreNarOptions): Promise<StoredNar> {
    return this.#leased(async () =>
      await this.#finishStore(
        await (await loadIngest()).ingestChunks(nar, this.ingestDeps(), opts),
        opts,
      )
    );
  }

  /**
   * Stores a NAR that arrives already cut into chunks (from swarm peers): a
   * chunk's stored bytes are kept as they came when they are in this
   * cache's compression, so nothing is cut or compressed again.
   */
  storeChunks(
    chunks: AsyncIterable<FetchedChunk>,
    opts: StoreNarOptions & { narHash?: Uint8Array },
  ): Promise<StoredNar> {
    return this.#leased(async () =>
      await this.#finishStore(
        await (await import("./ingest_fetched.ts")).ingestFetched(chunks, this.ingestDeps(), opts),
        opts,
      )
    );
  }

  async #leased<T>(f: () => Promise<T>): Promise<T> {
    // While the lease is held gc deletes no file: the chunks this NAR reuses
    // or writes stay put until its records are committed.
    const lease = await this.meta.takeLease();
    try {
      return await f();
    } finally {
      await this.meta.dropLease(lease).catch(() => {});
    }
  }

  async #finishStore(res: IngestResult, opts: StoreNarOptions): Promise<StoredNar> {
    const narHash = { algo: "sha256" as const, digest: res.narHash };
    const { checkExpected } = await loadPublish();
    if (opts.expect) checkExpected(opts.expect, narHash, res.narSize, res.pack);
    const packSize = res.pack.size;
    const storage = await this.places.sealPack(res.pack);
    const fileHash32 = encodeNix32(res.fileHash);
    let manifestAt: string | undefined;
    if (!(await this.meta.getNarFile(fileHash32))) {
      manifestAt = await this.places.putManifest(fileHash32, res.manifest.encode(), storage);
    }
    await this.meta.putChunks(opts.compression, res.newChunks);
    return await recordStoredNar(this.meta, res, opts.compression, {
      newChunks: res.newChunks.length,
      storedBytes: packSize,
      pack: storage !== undefined ? { id: res.pack.id, size: packSize, storage } : undefined,
      manifestAt,
    });
  }

  async publish(meta: PathMeta, stored: StoredNar, opts: PublishOptions): Promise<ImportResult> {
    const sp = parseStorePath(meta.storePath);
    const { buildNarinfo, missingReferences } = await loadPublish();
    const missing = await missingReferences(this, meta);
    if (missing.length) throw new MissingReferencesError(meta.storePath, missing);
    const info = buildNarinfo(meta, stored, opts.keys);
    const now = Date.now();
    const res = await this.meta.commitPath({
      hashPart: sp.hashPart,
      referenceHashParts: meta.references.map((r) => parseStorePathBase(r).hashPart),
      record: withSegments(narinfoToRecord(info, stored.fileHash32, now), opts.segments),
      audit: {
        type: opts.event ?? "Import",
        time: now,
        path: meta.storePath,
        narSize: stored.narSize,
        fileSize: stored.fileSize,
        storedBytes: stored.storedBytes,
        ...opts.auditFields,
      },
    });
    if (res.status === "no-file") throw new NarFileGoneError(meta.storePath, stored.fileHash32);
    if (res.status === "missing") {
      const byHash = new Map(meta.references.map((r) => [parseStorePathBase(r).hashPart, r]));
      throw new MissingReferencesError(meta.storePath, res.missing.map((h) => byHash.get(h)!));
    }
    if (res.status === "exists") {
      const other = await this.meta.getNar(sp.hashPart);
      if (other) return { status: "exists", narinfo: recordToNarinfo(other), storedBytes: 0 };
    }
    return { status: "imported", narinfo: info, storedBytes: stored.storedBytes };
  }

  /** What the import pipeline needs to find, read and store chunks in this cache. */
  ingestDeps(): {
    layout: CacheLayout;
    meta: MetaStore;
    packs: PackReader;
    resolve?: (ids: string[]) => Promise<void>;
  } {
    return {
      layout: this.layout,
      meta: this.meta,
      packs: this.packs,
      resolve: this.places.localOnly ? undefined : (ids) => this.places.resolve(ids),
    };
  }

  async openNar(name: string): Promise<NarBody | undefined> {
    const parsed = parseNarFileName(name);
    if (!parsed) return undefined;
    const fh = parsed.fileHash32;
    let opened = await this.#openChecked(fh, parsed.compression);
    if (opened === "damaged") {
      // Records and manifests are cached; gc in another process may have
      // removed or compacted this NAR since. Look again before judging.
      this.#files.delete(fh);
      this.#manifests.delete(fh);
      this.#verified.delete(fh);
      opened = await this.#openChecked(fh, parsed.compression);
    }
    if (opened === "damaged") {
      await this.quarantine(fh, this.#lastProblem);
      return undefined;
    }
    if (!opened) return undefined;
    const { rec, m } = opened;
    const extents = narExtents(m);
    const local = extents.every((e) => this.packs.isLocal(e.pack));
    // No crc32 here: #openChecked checked every chunk within REVERIFY_MS (and
    // the packs' lengths just now), and Nix checks the NarHash of what it gets.
    const onShort = (msg: string) => this.quarantine(fh, msg).then(() => {});
    const body = (start: number, end: number) => {
      if (!local) throw new RangeError(`nar/${fh} is not in local files`);
      return new FileBody(
        extentParts(this.layout, extents, start, end, (p) => this.places.pathOf(p)!),
        onShort,
      );
    };
    return {
      size: rec.fileSize,
      compression: rec.compression,
      body,
      open: local
        ? (start, end) => Promise.resolve(body(start, end))
        : (start, end) => this.#remoteBody(fh, extents, start, end),
      share: local
        ? {
          parts: extentParts(this.layout, extents, 0, rec.fileSize, (p) => this.places.pathOf(p)!)
            .map((p) => [p.path, p.offset, p.length]),
          until: (this.#verified.get(fh) ?? Date.now()) + REVERIFY_MS,
          onShort,
        }
        : undefined,
    };
  }

  /**
   * A NAR with packs in a remote store: one ranged read per extent. A store
   * that fails before the first byte makes it a 404 (logged, the paths stay:
   * a store that is down is not damage); after it, the stream errors.
   */
  async #remoteBody(
    fh: string,
    extents: readonly Extent[],
    start: number,
    end: number,
  ): Promise<ReadableStream<Uint8Array>> {
    const opens = [];
    let at = 0;
    for (const e of extents) {
      const from = Math.max(start, at);
      const to = Math.min(end, at + e.length);
      if (from < to) {
        const off = e.offset + from - at;
        opens.push(() => this.places.read(e.pack, off, to - from));
      }
      at += e.length;
    }
    try {
      return await extentStream(opens);
    } catch (err) {
      console.error(`arca: nar/${fh}: cannot be read now: ${(err as Error).message}`);
      throw err;
    }
  }

  #lastProblem = "";

  async #openChecked(
    fh: string,
    compression: string,
  ): Promise<{ rec: NarFileRecord; m: Manifest } | undefined | "damaged"> {
    let rec = this.#files.get(fh);
    if (!rec) {
      rec = await this.meta.getNarFile(fh);
      if (!rec) return undefined;
      this.#files.set(fh, rec);
      if (this.#files.size > FILE_CACHE) this.#files.delete(this.#files.keys().next().value!);
    }
    if (rec.compression !== compression) return undefined;
    let m: Manifest | undefined;
    try {
      m = await this.#manifest(fh, rec.manifestAt);
    } catch (e) {
      // Its storage failed: not damage. A 404 now, served again once it is back.
      console.error(`arca: nar/${fh}: cannot be read now: ${(e as Error).message}`);
      return undefined;
    }
    if (!m) {
      this.#lastProblem = "manifest is missing or damaged";
      return "damaged";
    }
    // Every chunk must be on disk and intact before a response starts, so a
    // 200 never ends short. Checking costs a read at page-cache speed and a
    // crc32 (GB/s); a NAR checked recently is trusted for a while.
    // Even then its packs' lengths are checked (a stat each): a pack cut
    // short since the last check would otherwise end a 200 early.
    const checked = this.#verified.get(fh);
    const trusted = checked !== undefined && Date.now() - checked <= REVERIFY_MS;
    const problem = trusted ? this.#checkLengths(m) : await this.#check(m);
    if (problem) {
      this.#lastProblem = problem;
      return "damaged";
    }
    if (!trusted) {
      this.#verified.set(fh, Date.now());
      if (this.#verified.size > 4096) this.#verified.delete(this.#verified.keys().next().value!);
    }
    return { rec, m };
  }

  /** Returns what is wrong with a NAR's chunks on disk, or undefined when all are intact. */
  async #check(m: Manifest): Promise<string | undefined> {
    const crc32 = await loadCrc32();
    // One buffer for the whole check: a NAR of any size costs the same memory.
    let buf = new Uint8Array(RUN_BYTES * 2);
    await this.places.resolve(packEnds(m).keys());
    for (const run of runs(m, 0, Infinity)) {
      const first = m.chunks[run.i];
      // A remote pack is not read twice: the store checks each range it serves
      // (length), and the NarHash check by Nix does the rest.
      if (!this.packs.isLocal(first.pack)) continue;
      if ((this.packs.size(first.pack)) < first.offset + run.len) {
        return `pack ${first.pack} is missing or shorter than ${first.offset + run.len}`;
      }
      if (run.len > buf.length) buf = new Uint8Array(run.len);
      const bytes = await this.packs.readInto(first.pack, first.offset, buf.subarray(0, run.len));
      let o = 0;
      for (let k = run.i; k < run.j; k++) {
        const c = m.chunks[k];
        if (crc32(bytes.subarray(o, o + c.clen)) !== c.crc) {
          return `chunk ${k} (pack ${c.pack} at ${c.offset}) is damaged`;
        }
        o += c.clen;
      }
    }
    return undefined;
  }

  /** Returns which pack is missing or too short for a NAR's chunks, or undefined. */
  #checkLengths(m: Manifest): string | undefined {
    for (const [pack, end] of packEnds(m)) {
      if (!this.packs.isLocal(pack)) continue;
      if ((this.packs.size(pack)) < end) {
        return `pack ${pack} is missing or shorter than ${end}`;
      }
    }
    return undefined;
  }

  async #manifest(fileHash32: string, at?: string): Promise<Manifest | undefined> {
    const hit = this.#manifests.get(fileHash32);
    if (hit) return hit;
    // A storage that fails rejects here (the caller tells that from damage).
    const bytes = await this.places.getManifest(fileHash32, at);
    if (!bytes) return undefined;
    let m: Manifest;
    try {
      m = decodeManifest(bytes);
    } catch {
      return undefined;
    }
    this.#manifests.set(fileHash32, m);
    if (this.#manifests.size > MANIFEST_CACHE) {
      this.#manifests.delete(this.#manifests.keys().next().value!);
    }
    return m;
  }

  async quarantine(fileHash32: string, reason: string): Promise<string[]> {
    const hit: string[] = [];
    for await (const [hashPart, r] of this.meta.listNars()) {
      if (r.fileHash !== fileHash32) continue;
      await this.meta.removeNar(hashPart, {
        type: "Quarantine",
        time: Date.now(),
        path: r.storePath,
        reason,
      });
      hit.push(r.storePath);
    }
    if (hit.length) console.error(`arca: took out of service (${reason}): ${hit.join(", ")}`);
    await this.meta.dropNarFile(fileHash32);
    this.#files.delete(fileHash32);
    this.#manifests.delete(fileHash32);
    this.#verified.delete(fileHash32);
    return hit;
  }

  audit(events: AuditEvent[]): Promise<void> {
    return this.meta.appendAudit(events);
  }

  auditLog(sinceMs: number): AsyncIterable<AuditEvent> {
    return this.meta.listAudit(sinceMs);
  }

  async status(): Promise<StoreStatus> {
    const s = await this.meta.stats();
    if (this.places.localOnly) return { backend: "kv", ...s };
    return { backend: "kv", ...s, storages: await this.storageStatus() };
  }

  /** Bytes and packs per storage, from the pack records (the truth gc keeps). */
  async storageStatus(): Promise<StorageStatus[]> {
    const by = new Map<string, { bytes: number; packs: number }>();
    for await (const [, rec] of this.meta.scan<{ size: number; storage?: string }>(["pack"])) {
      const name = rec.storage ?? LOCAL;
      const u = by.get(name) ?? { bytes: 0, packs: 0 };
      u.bytes += rec.size;
      u.packs++;
      by.set(name, u);
    }
    const set = this.places.set;
    return set.all().map((e) => ({
      name: e.name,
      kind: e.store.kind,
      where: e.store.where,
      bytes: by.get(e.name)?.bytes ?? 0,
      packs: by.get(e.name)?.packs ?? 0,
      maxBytes: e.maxBytes,
      writable: set.writable.includes(e),
      ...(set.skipped(e.name) ? { skipped: set.skipped(e.name) } : {}),
    }));
  }

  changes(ms: number): AsyncIterable<{ ms: number; hashPart: string; op: string }> {
    return this.meta.changesSince(ms);
  }

  follow(signal: AbortSignal, onChange: () => void): Promise<void> {
    return this.meta.watch(signal, onChange);
  }

  async close(): Promise<void> {
    closeSharedPool();
    await this.packs.close();
    this.meta.close();
  }
}
