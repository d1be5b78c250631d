/**
 * Importing many paths into the kv backend at once (`import-closure`).
 *
 * ```
 * path 1..k ─ ingest (shared pack) ─▶ batch ─ seal pack (1 fsync) ─ manifests (fsyncs together)
 *                                                 ─ chunk index ─ 1 commit per 40 paths
 * path k+1.. ─ ingest into the next pack, while the batch above commits
 * ```
 * Per path the single-path import paid two fsyncs, a lease and ~5 KV
 * commits; here a batch of small paths shares them, and encoding, hashing
 * and compressing the next batch overlaps the commit of the last one.
 *
 * Crash safety is the single-path rule: a narinfo is committed only after
 * the pack holding its chunks and its manifest are synced and its chunks are
 * indexed; an interrupted batch leaves only a temporary pack that the next
 * start removes. Batches commit in order, so a path is published with or
 * after everything it references. One lease covers the whole run, so gc
 * deletes no pack the run reuses or writes.
 */
import { encodeNix32 } from "../encoding/mod.ts";
import { encodeHex } from "../encoding/hex.ts";
import { formatHash, type Hash } from "../hash/mod.ts";
import type { PathMeta } from "../narinfo/path_meta.ts";
import { parseStorePathBase } from "../store_path/mod.ts";
import type { CacheLayout } from "../blob/cache_layout.ts";
import type { PackPlaces } from "./pack_places.ts";
import type { PackReader } from "../blob/pack_reader.ts";
import { PackWriter } from "../blob/pack_writer.ts";
import type { MetaStore, NarFileCommit, PathCommit } from "../kv/meta_store.ts";
import type { ChunkLocation } from "../kv/records.ts";
import { type BatchChunk, type IngestResult, ingestStart } from "./ingest_chunks.ts";
import { buildNarinfo, checkExpected } from "./publish_helpers.ts";
import { narinfoToRecord, recordToNarinfo, withSegments } from "./record_narinfo.ts";
import type { ImportOptions } from "./import_path.ts";
import {
  type ImportResult,
  MissingReferencesError,
  NarFileGoneError,
  type StoredNar,
} from "./store.ts";

/** A batch is committed once its pack holds this many bytes… */
const BATCH_BYTES = 48 << 20;
/** …or this many paths wait in it. */
const BATCH_PATHS = 120;
/** Manifests written (and synced) at the same time: ext4 folds concurrent fsyncs together. */
const MANIFEST_WRITERS = 32;

export interface BatchDeps {
  layout: CacheLayout;
  meta: MetaStore;
  packs: PackReader;
  places: PackPlaces;
}

/** How one path ended: imported or already there, or why not. */
export type BatchOutcome =
  | { meta: PathMeta; result: ImportResult; error?: undefined }
  | { meta: PathMeta; result?: undefined; error: Error };

interface Pending {
  meta: PathMeta;
  res: IngestResult;
}

interface Batch {
  pack: PackWriter;
  fresh: Map<string, BatchChunk>;
  /** NARs read in full whose last chunks may still be compressing. */
  items: { meta: PathMeta; rest: Promise<IngestResult> }[];
  /** Appends still running for NARs refused after reading (a NarHash mismatch). */
  orphans: Promise<unknown>[];
}

/**
 * Imports `metas` (references first) and calls `report` once per path (a
 * stored path once its batch is committed). A path whose reference failed
 * fails too. Never throws
 * for one path's failure; throws only when the cache itself cannot be used.
 */
export async function importBatch(
  deps: BatchDeps,
  metas: PathMeta[],
  nar: (meta: PathMeta) => ReadableStream<Uint8Array>,
  opts: ImportOptions,
  report: (o: BatchOutcome) => void,
): Promise<void> {
  const lease = await deps.meta.takeLease();
  try {
    await run(deps, metas, nar, opts, report);
  } finally {
    await deps.meta.dropLease(lease).catch(() => {});
  }
}

async function run(
  deps: BatchDeps,
  metas: PathMeta[],
  nar: (meta: PathMeta) => ReadableStream<Uint8Array>,
  opts: ImportOptions,
  report: (o: BatchOutcome) => void,
): Promise<void> {
  // Basenames published before this run, or stored by it and waiting in a batch.
  const present = new Set<string>();
  const looked = new Map<string, boolean>();
  const published = async (base: string) => {
    if (present.has(base)) return true;
    let hit = looked.get(base);
    if (hit === undefined) {
      hit = (await deps.meta.getNar(parseStorePathBase(base).hashPart)) !== undefined;
      looked.set(base, hit);
    }
    return hit;
  };
  // Into an empty chunk index, only chunks this run committed can be found:
  // a map of those spares a KV read per 10 chunks (a tenth of the main thread).
  const committed = (await deps.meta.stats()).chunks === 0
    ? new Map<string, ChunkLocation>()
    : undefined;
  const lookup = committed &&
    ((ids: Uint8Array[]) => ids.map((id) => committed.get(encodeHex(id))));
  const newBatch = (): Batch => ({
    pack: new PackWriter(deps.layout),
    fresh: new Map(),
    items: [],
    orphans: [],
  });
  let batch = newBatch();
  let committing: Promise<void> = Promise.resolve();
  const flush = async () => {
    await committing;
    committing = commitBatch(deps, batch, opts, report, committed);
    batch = newBatch();
  };
  try {
    for (const meta of metas) {
      const base = baseName(meta.storePath);
      const rec = await deps.meta.getNar(parseStorePathBase(base).hashPart);
      if (rec) {
        present.add(base);
        report({
          meta,
          result: { status: "exists", narinfo: recordToNarinfo(rec), storedBytes: 0 },
        });
        continue;
      }
      const missing: string[] = [];
      for (const r of meta.references) if (r !== base && !(await published(r))) missing.push(r);
      if (missing.length) {
        report({ meta, error: new MissingReferencesError(meta.storePath, missing) });
        continue;
      }
      let rest: Promise<IngestResult> | undefined;
      try {
        const started = await ingestStart(
          nar(meta),
          {
            ...deps,
            pack: batch.pack,
            fresh: batch.fresh,
            lookup,
            resolve: deps.places.localOnly ? undefined : (ids) => deps.places.resolve(ids),
          },
          {
            compression: opts.compression,
            level: opts.level,
            onProgress: opts.onProgress,
            inline: opts.inline,
          },
        );
        rest = started.rest;
        const narHash: Hash = { algo: "sha256", digest: started.narHash };
        // The bytes it appended stay in the shared pack: valid chunks, just unused.
        const expect = {
          narHash: meta.narHash,
          narSize: meta.narSize,
          what: meta.storePath,
          source: "Nix recorded",
        };
        checkExpected(expect, narHash, started.narSize, { abort() {} });
      } catch (e) {
        if (rest) batch.orphans.push(rest.catch(() => {}));
        report({ meta, error: e as Error });
        continue;
      }
      present.add(base);
      batch.items.push({ meta, rest });
      if (batch.pack.size >= BATCH_BYTES || batch.items.length >= BATCH_PATHS) await flush();
    }
    await flush();
  } finally {
    await committing;
    batch.pack.abort();
  }
}

/** Makes one batch durable and visible; reports each of its paths. */
async function commitBatch(
  deps: BatchDeps,
  batch: Batch,
  opts: ImportOptions,
  report: (o: BatchOutcome) => void,
  committed: Map<string, ChunkLocation> | undefined,
): Promise<void> {
  // Every chunk of the batch must be appended before the pack is sealed.
  await Promise.all(batch.orphans);
  const done = await Promise.allSettled(batch.items.map((it) => it.rest));
  const items: Pending[] = [];
  done.forEach((d, i) => {
    const meta = batch.items[i].meta;
    if (d.status === "fulfilled") items.push({ meta, res: d.value });
    else report({ meta, error: d.reason as Error });
  });
  if (items.length === 0) {
    batch.pack.abort();
    return;
  }
  let results: (ImportResult | Error)[];
  try {
    results = await commitItems(deps, batch.pack, items, opts);
    // Sealed and indexed: later batches of this run may reuse these chunks.
    for (const it of items) {
      for (const c of it.res.newChunks) committed?.set(encodeHex(c.id), c.loc);
    }
  } catch (e) {
    batch.pack.abort();
    results = items.map(() => e as Error);
  }
  items.forEach((it, i) => {
    const r = results[i];
    report(r instanceof Error ? { meta: it.meta, error: r } : { meta: it.meta, result: r });
  });
}

async function commitItems(
  deps: BatchDeps,
  pack: PackWriter,
  items: Pending[],
  opts: ImportOptions,
): Promise<(ImportResult | Error)[]> {
  const packSize = pack.size;
  const storage = await deps.places.sealPack(pack);
  const files = new Map<string, Pending>();
  for (const it of items) files.set(encodeNix32(it.res.fileHash), it);
  const names = [...files.keys()];
  const have = await Promise.all(names.map((f) => deps.meta.getNarFile(f)));
  const toWrite = names.filter((_, i) => !have[i]);
  const manifestAt = new Map<string, string>();
  // The pack is sealed: its chunks are indexed while the manifests are written.
  const indexed = deps.meta.putChunks(opts.compression, items.flatMap((it) => it.res.newChunks));
  indexed.catch(() => {}); // awaited below
  for (let i = 0; i < toWrite.length; i += MANIFEST_WRITERS) {
    await Promise.all(
      toWrite.slice(i, i + MANIFEST_WRITERS).map(async (f) =>
        manifestAt.set(
          f,
          await deps.places.putManifest(f, files.get(f)!.res.manifest.encode(), storage),
        )
      ),
    );
  }
  await indexed;
  const now = Date.now();
  const prepared = items.map((it) => prepare(it, opts, now, manifestAt));
  const commits = await deps.meta.commitImports(
    prepared.map((p) => ({ file: p.file, path: p.path })),
    storage !== undefined ? { id: pack.id, size: packSize, storage } : undefined,
  );
  const out: (ImportResult | Error)[] = [];
  for (const [i, c] of commits.entries()) {
    const { meta } = items[i];
    const p = prepared[i];
    if (c.status === "ok") {
      out.push({ status: "imported", narinfo: p.info, storedBytes: p.stored.storedBytes });
    } else if (c.status === "exists") {
      const other = await deps.meta.getNar(p.path.hashPart);
      out.push({
        status: "exists",
        narinfo: other ? recordToNarinfo(other) : p.info,
        storedBytes: 0,
      });
    } else if (c.status === "no-file") {
      out.push(new NarFileGoneError(meta.storePath, p.file.fileHash32));
    } else {
      const byHash = new Map(meta.references.map((r) => [parseStorePathBase(r).hashPart, r]));
      out.push(new MissingReferencesError(meta.storePath, c.missing.map((h) => byHash.get(h)!)));
    }
  }
  return out;
}

/** The narinfo (signed) and the KV records of one stored path. */
function prepare(
  it: Pending,
  opts: ImportOptions,
  now: number,
  manifestAt: Map<string, string>,
) {
  const { meta, res } = it;
  const narHash: Hash = { algo: "sha256", digest: res.narHash };
  const fileHash32 = encodeNix32(res.fileHash);
  const stored: StoredNar = {
    narHash,
    narSize: res.narSize,
    fileHash32,
    fileSize: res.fileSize,
    compression: opts.compression,
    storedBytes: res.newBytes,
  };
  const info = buildNarinfo(meta, stored, opts.keys);
  const file: NarFileCommit = {
    fileHash32,
    narHash32: encodeNix32(res.narHash),
    narFile: {
      narHash: formatHash(narHash),
      compression: opts.compression,
      fileSize: res.fileSize,
      narSize: res.narSize,
      chunks: res.manifest.count,
      createdAt: now,
      ...(manifestAt.get(fileHash32) !== undefined && manifestAt.get(fileHash32) !== "local"
        ? { manifestAt: manifestAt.get(fileHash32) }
        : {}),
    },
    newChunks: res.newChunks.length,
    storedBytes: res.newBytes,
  };
  const path: PathCommit = {
    hashPart: parseStorePathBase(baseName(meta.storePath)).hashPart,
    referenceHashParts: meta.references.map((r) => parseStorePathBase(r).hashPart),
    record: withSegments(narinfoToRecord(info, fileHash32, now), opts.segments),
    audit: {
      type: "Import",
      time: now,
      path: meta.storePath,
      narSize: res.narSize,
      fileSize: res.fileSize,
      storedBytes: res.newBytes,
    },
  };
  return { info, stored, file, path };
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}
