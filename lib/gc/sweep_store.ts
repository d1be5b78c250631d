/**
 * The space half of gc: mark and sweep over the kv backend's files.
 *
 * ```
 * mark:     narinfo records ─▶ their NAR files ─▶ manifests ─▶ live (pack, offset)s
 *           + work in progress (`_liveness.ts`): NAR files of uploads awaiting their
 *             narinfo, manifests of imports not yet recorded, packs no manifest names yet
 * metadata: NAR file records and chunk index entries nothing live uses
 * compact:  packs mostly dead, or chosen by the plan: live chunks copied to a new pack,
 *           manifests and chunk entries pointed at the copies
 * check:    no import or upload holds a lease ─▶ mark again ─▶ delete what is still
 *           unused: manifests, packs without a live chunk, compacted packs
 * ```
 * Why this order makes deleting at once safe: every import and upload takes
 * its lease before it looks a chunk up and holds it until its NAR file record
 * is committed. Chunk entries of dead chunks are gone (and those of compacted
 * chunks point at the copies) before the lease check, so an import that could
 * still reuse a dead chunk holds a lease then; one that ended before has its
 * record committed, and the second mark sees what it uses. Packs written by
 * imports that started after the check are young and named by no manifest gc
 * read: they stay. A manifest is deleted only if its bytes are still the ones
 * gc found unused (an import may write that name anew meanwhile).
 * A download that already started keeps reading through its open handle: an
 * unlinked file stays readable on Linux until closed.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import type { CacheLayout } from "../blob/cache_layout.ts";
import { tmpName } from "../blob/atomic_file.ts";
import type { PackReader } from "../blob/pack_reader.ts";
import { PackWriter } from "../blob/pack_writer.ts";
import { K } from "../kv/keys.ts";
import { type BatchItem, type MetaStore, packRecord } from "../kv/meta_store.ts";
import type { ChunkLocation, NarFileRecord, PackRecord } from "../kv/records.ts";
import { encodeManifest } from "../store/manifest.ts";
import { manifestKey, PackPlaces } from "../store/pack_places.ts";
import { liveLease } from "./_alive.ts";
import { type DiskFile, listObjects, readManifest } from "./_kv_disk.ts";
import { narFileHeld, recentUploads } from "./_liveness.ts";

/** What sweeping needs from the kv backend (`KvStore` has all four). */
export interface SweepTarget {
  layout: CacheLayout;
  meta: MetaStore;
  packs: PackReader;
  /** Where packs and manifests are (the cache dir, S3, other disks); absent: the cache dir. */
  places?: PackPlaces;
}

/** The target's storages: its own, or the cache directory alone. */
export function placesOf(t: SweepTarget): PackPlaces {
  return t.places ?? PackPlaces.local(t.layout, t.meta);
}

export interface SweepOptions {
  now: number;
  graceMs: number;
  /** A live lease (import or upload in flight): clean metadata, delete no file. */
  leased: boolean;
  /** Compact packs whose live bytes are below this fraction (0 turns compaction off). */
  compactBelow?: number;
  /**
   * NAR files whose last paths this run removed, with the latest publish
   * time among those paths: the grace period does not keep them.
   */
  freed?: Map<string, number>;
  /** Packs to compact whatever their live share (the plan's choice to fit `--max-size`). */
  compact?: Iterable<string>;
}

export interface SweepStats {
  narFiles: number;
  manifests: number;
  chunkEntries: number;
  packsDeleted: number;
  packsCompacted: number;
  /** Unused packs kept as work in progress (young, named by no manifest). */
  packsDoomed: number;
  /** Bytes of pack files deleted, minus the bytes of the packs compaction wrote. */
  diskBytesFreed: number;
  /** Bytes of manifest files deleted. */
  manifestBytesFreed: number;
  /** Bytes of narinfo files deleted (filesystem backend). */
  narinfoBytesFreed: number;
  /** Listings and build logs deleted with their paths (`side_files.ts`), and their bytes. */
  sideFiles: number;
  sideBytesFreed: number;
  /** Uploads to a storage that never completed (a crash), aborted: S3 multipart uploads. */
  uploadsAborted: number;
  /** A lease that appeared during the sweep: no file was deleted (its holder's pid). */
  leasedBy?: number;
}

type Live = Map<string, Map<number, { clen: number; crc: number }>>;

interface Mark {
  /** NAR file records by file hash, with their versionstamps. */
  records: Map<string, { rec: NarFileRecord; vs: string }>;
  /** NAR file records nothing uses or holds. */
  dead: { fh: string; rec: NarFileRecord; vs: string }[];
  live: Live;
  /** Per pack, the NAR files whose live chunks are in it. */
  users: Map<string, Set<string>>;
  /** Packs some manifest read names. */
  named: Set<string>;
  /** Every manifest listed, with its storage. */
  manifests: Map<string, DiskFile>;
  /** Manifests of dead records, or without a record and not held: size, digest, storage. */
  unused: Map<string, { size: number; digest: string; storage: string }>;
}

export function emptySweep(): SweepStats {
  return {
    narFiles: 0,
    manifests: 0,
    chunkEntries: 0,
    packsDeleted: 0,
    packsCompacted: 0,
    packsDoomed: 0,
    diskBytesFreed: 0,
    manifestBytesFreed: 0,
    narinfoBytesFreed: 0,
    sideFiles: 0,
    sideBytesFreed: 0,
    uploadsAborted: 0,
  };
}

export async function sweepStore(t: SweepTarget, o: SweepOptions): Promise<SweepStats> {
  const stats = emptySweep();
  const since = o.now - o.graceMs;
  const freed = o.freed ?? new Map<string, number>();
  const uploaded = await recentUploads(t.meta, since);
  const first = await mark(t, since, uploaded, freed, new Map());
  const packFiles = await listObjects(placesOf(t), "packs/", ".pack");
  const inProgress = (files: Map<string, DiskFile>, named: Set<string>, pack: string) =>
    (files.get(pack)?.mtime ?? 0) >= since && !named.has(pack);

  // Metadata: NAR file records (and their NarHash index), chunk entries.
  const items: BatchItem[] = first.dead.map((d) => ({
    key: [...K.narfile(d.fh)],
    check: d.vs,
    stats: { fileBytes: -d.rec.fileSize },
  }));
  stats.narFiles = await t.meta.applyMany(items);
  const hashIdx: BatchItem[] = [];
  for (const d of first.dead) {
    const nh = d.rec.narHash.replace(/^sha256:/, "");
    if ((await t.meta.findNarFile(nh)) === d.fh) hashIdx.push({ key: [...K.narhash(nh)] });
  }
  await t.meta.applyMany(hashIdx);
  const chunkItems: BatchItem[] = [];
  const byPack = new Map<string, [Deno.KvKey, ChunkLocation, string][]>();
  for await (const [key, loc, vs] of t.meta.scan<ChunkLocation>(K.chunkPrefix)) {
    if (first.live.get(loc.pack)?.has(loc.offset)) {
      let l = byPack.get(loc.pack);
      if (!l) byPack.set(loc.pack, l = []);
      l.push([key, loc, vs]);
    } else if (!inProgress(packFiles, first.named, loc.pack)) {
      chunkItems.push({ key, check: vs, stats: { chunks: -1 } });
    }
  }
  stats.chunkEntries = await t.meta.applyMany(chunkItems);
  if (o.leased) return stats;

  // Compaction: the copies are live at once; the originals go below, once unused.
  const compactBelow = o.compactBelow ?? 0.5;
  const chosen = new Set(o.compact ?? []);
  for (const [id, f] of packFiles) {
    const offs = first.live.get(id);
    if (!offs) continue;
    let liveBytes = 0;
    for (const c of offs.values()) liveBytes += c.clen;
    if (liveBytes >= f.size || (liveBytes >= f.size * compactBelow && !chosen.has(id))) continue;
    const done = await compactPack(
      t,
      id,
      offs,
      first.users.get(id)!,
      byPack.get(id) ?? [],
      o.now,
      first.manifests,
    );
    if (done !== undefined) {
      stats.packsCompacted++;
      stats.diskBytesFreed -= done;
    }
  }

  // Files: only with no lease held after the metadata changed, and by a fresh mark.
  const lease = await liveLease(t.meta);
  if (lease) {
    stats.leasedBy = lease.pid;
    return stats;
  }
  const second = await mark(t, since, uploaded, freed, first.unused);
  const named = new Set([...first.named, ...second.named]);
  for (const [fh, m] of second.unused) {
    if (second.records.has(fh)) continue; // its record is back (or its delete failed): later
    if (await removeIfUnchanged(t, fh, m)) {
      stats.manifests++;
      stats.manifestBytesFreed += m.size;
    }
  }
  const records = new Map<string, number>();
  for await (const [key, rec] of t.meta.scan<PackRecord>(K.packPrefix)) {
    records.set(String(key[1]), rec.size);
  }
  const packsNow = await listObjects(placesOf(t), "packs/", ".pack");
  const gone: { id: string; storage: string; size: number }[] = [];
  for (const [id, f] of packsNow) {
    if (second.live.has(id)) continue;
    if (inProgress(packsNow, named, id)) {
      stats.packsDoomed++;
      continue;
    }
    gone.push({ id, storage: f.storage, size: f.size });
  }
  // One batch per storage (S3: up to 1000 keys per request); the records after.
  for (let i = 0; i < gone.length; i += 1000) {
    const batch = gone.slice(i, i + 1000);
    await placesOf(t).deletePacks(batch);
    const items: BatchItem[] = [];
    for (const p of batch) {
      const size = records.get(p.id);
      if (size !== undefined) items.push({ key: [...K.pack(p.id)], stats: { storedBytes: -size } });
      records.delete(p.id);
      stats.packsDeleted++;
      stats.diskBytesFreed += p.size;
    }
    await t.meta.applyMany(items);
  }
  // Uploads a crash left unfinished (S3 multipart): never visible, only their parts cost.
  for (const { storage, upload } of await placesOf(t).pendingUploads()) {
    if (upload.started >= since) continue;
    await storage.store.abortUpload(upload);
    stats.uploadsAborted++;
  }
  // Records of packs that are gone from disk (damage, or a crash mid-gc).
  for (const [id, size] of records) {
    if (!packsNow.has(id) && !second.live.has(id)) {
      await t.meta.applyMany([{ key: [...K.pack(id)], stats: { storedBytes: -size } }]);
    }
  }
  // Marks of the delayed deletion earlier versions used: no longer needed.
  const doomed: BatchItem[] = [];
  for await (const [key] of t.meta.scan(K.doomedPrefix)) doomed.push({ key });
  await t.meta.applyMany(doomed);
  return stats;
}

/**
 * What is live now. A manifest without a record is work in progress if
 * young, unless it is one `unusedBefore` (the first mark) found unused with
 * the same bytes: its record was just deleted.
 */
async function mark(
  t: SweepTarget,
  since: number,
  uploaded: Set<string>,
  freed: Map<string, number>,
  unusedBefore: Map<string, { digest: string }>,
): Promise<Mark> {
  const used = new Set<string>();
  for await (const [, r] of t.meta.listNars()) used.add(r.fileHash);
  const records = new Map<string, { rec: NarFileRecord; vs: string }>();
  const dead: Mark["dead"] = [];
  const liveFiles = new Set<string>();
  for await (const [key, rec, vs] of t.meta.scan<NarFileRecord>(K.narfilePrefix)) {
    const fh = String(key[1]);
    records.set(fh, { rec, vs });
    if (used.has(fh) || narFileHeld(fh, rec.createdAt, since, uploaded, freed.get(fh))) {
      liveFiles.add(fh);
    } else dead.push({ fh, rec, vs });
  }
  const out: Mark = {
    records,
    dead,
    live: new Map(),
    users: new Map(),
    named: new Set(),
    unused: new Map(),
    manifests: await listObjects(placesOf(t), "manifests/", ".bin"),
  };
  for (const [fh, f] of out.manifests) {
    const read = await readManifest(placesOf(t), fh, f.storage);
    if (!read) continue; // damaged: `arca verify` reports it
    for (const c of read.m.chunks) out.named.add(c.pack);
    let live = liveFiles.has(fh);
    if (!live) {
      const digest = digestOf(read.bytes);
      live = !records.has(fh) && f.mtime >= since && unusedBefore.get(fh)?.digest !== digest;
      if (!live) out.unused.set(fh, { size: f.size, digest, storage: f.storage });
    }
    if (!live) continue;
    for (const c of read.m.chunks) {
      let offs = out.live.get(c.pack);
      if (!offs) out.live.set(c.pack, offs = new Map());
      offs.set(c.offset, { clen: c.clen, crc: c.crc });
      let u = out.users.get(c.pack);
      if (!u) out.users.set(c.pack, u = new Set());
      u.add(fh);
    }
  }
  return out;
}

/**
 * Deletes a manifest if its bytes still have `digest`. In a directory it is
 * moved aside first, so a version written meanwhile is put back, never lost.
 * S3 (RGW 16) has no conditional delete: the bytes are read and compared,
 * then deleted; a rewrite in between is what gc's lease check rules out.
 */
async function removeIfUnchanged(
  t: SweepTarget,
  fh: string,
  m: { digest: string; storage: string },
): Promise<boolean> {
  const store = placesOf(t).set.get(m.storage)?.store;
  if (!store) return false;
  const path = store.localPath?.(manifestKey(fh));
  if (path === undefined) {
    const bytes = await store.get(manifestKey(fh));
    if (!bytes || digestOf(bytes) !== m.digest) return false;
    await store.deleteMany([manifestKey(fh)]);
    return true;
  }
  return await removeFileIfUnchanged(t.layout, path, m.digest);
}

async function removeFileIfUnchanged(
  l: CacheLayout,
  path: string,
  digest: string,
): Promise<boolean> {
  const aside = tmpName(l.tmp, ".gc");
  try {
    await Deno.rename(path, aside);
  } catch {
    return false; // gone already
  }
  const bytes = await Deno.readFile(aside).catch(() => undefined);
  if (bytes && digestOf(bytes) === digest) {
    await Deno.remove(aside).catch(() => {});
    return true;
  }
  await Deno.rename(aside, path).catch(() => {});
  return false;
}

function digestOf(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Copies a pack's live chunks to a new pack, points the manifests and chunk
 * entries at the copies, and returns the new pack's size (undefined when a
 * chunk was damaged: the pack is left for `arca verify`).
 */
async function compactPack(
  t: SweepTarget,
  id: string,
  offs: Map<number, { clen: number; crc: number }>,
  users: Set<string>,
  entries: [Deno.KvKey, ChunkLocation, string][],
  now: number,
  manifests: Map<string, DiskFile>,
): Promise<number | undefined> {
  const w = new PackWriter(t.layout);
  const moved = new Map<number, number>();
  try {
    // Live chunks stored back to back are read together: one ranged GET per
    // stretch (of up to 8 MiB) when the pack is in S3, not one per chunk.
    for (const run of stretches([...offs].sort((a, b) => a[0] - b[0]), 8 << 20)) {
      const first = run[0][0];
      const last = run[run.length - 1];
      const all = await t.packs.read(id, first, last[0] + last[1].clen - first);
      for (const [off, c] of run) {
        const bytes = all.subarray(off - first, off - first + c.clen);
        if (crc32(bytes) !== c.crc) throw new RangeError(`pack ${id}: damaged chunk at ${off}`);
        moved.set(off, await w.append(bytes));
      }
    }
  } catch {
    w.abort();
    return undefined;
  }
  const size = w.size;
  const storage = await placesOf(t).sealPack(w);
  await t.meta.applyMany([{
    key: [...K.pack(w.id)],
    value: packRecord({ id: w.id, size, storage }, now),
    stats: { storedBytes: size },
  }]);
  for (const fh of users) {
    const at = manifests.get(fh)?.storage;
    const read = await readManifest(placesOf(t), fh, at);
    if (!read) continue;
    const m = read.m;
    for (const c of m.chunks) {
      const to = c.pack === id ? moved.get(c.offset) : undefined;
      if (to !== undefined) (c.pack = w.id, c.offset = to);
    }
    // Rewritten where it is: its NAR file record names that storage.
    const bytes = encodeManifest(m);
    const store = at === undefined ? undefined : placesOf(t).set.get(at)?.store;
    if (store) await store.put(manifestKey(fh), bytes);
    else await placesOf(t).putManifest(fh, bytes);
  }
  await t.meta.applyMany(entries.map(([key, loc, vs]) => ({
    key,
    check: vs,
    value: { ...loc, pack: w.id, offset: moved.get(loc.offset)! },
  })));
  return size;
}

/** Chunks (by offset, sorted) grouped into stretches stored back to back, each up to `max` bytes. */
export function stretches<T extends { clen: number }>(
  chunks: [number, T][],
  max: number,
): [number, T][][] {
  const out: [number, T][][] = [];
  let cur: [number, T][] = [];
  let end = -1;
  let len = 0;
  for (const c of chunks) {
    if (cur.length && (c[0] !== end || len + c[1].clen > max)) {
      out.push(cur);
      cur = [];
      len = 0;
    }
    cur.push(c);
    end = c[0] + c[1].clen;
    len += c[1].clen;
  }
  if (cur.length) out.push(cur);
  return out;
}
