/**
 * One gc run over the filesystem backend (the `nix copy --to file://` layout):
 *
 * ```
 * measure the cache + <hash>.narinfo files + access times + roots (KV)
 *   ─▶ space model ─▶ planGc ─▶ (--dry-run stops here: what it would free)
 *   ─▶ delete the narinfos, referrers first (a run cut short leaves whole closures)
 *   ─▶ delete any narinfo whose reference went meanwhile (a racing import)
 *   ─▶ delete nar/ files no narinfo names: those of the narinfos just deleted,
 *      and others once older than the grace period (an upload's NAR waits
 *      there for its narinfo), with their KV records
 *   ─▶ abort multipart uploads under nar/ older than the grace period (S3)
 *   ─▶ the removed paths' listings and build logs (`side_files.ts`)
 *   ─▶ measure; over --max-size? VACUUM the database, plan again (3 rounds at most)
 *   ─▶ one GarbageCollect audit event ─▶ measure: fits, or why not
 * ```
 * The same plan as the kv backend (`planGc`), the same lock (`["gclock"]`).
 * A download that already started keeps reading: `serve` opens the file
 * before answering, and an unlinked file stays readable until closed.
 *
 * With the files in a bucket (`FlatFiles` over S3) the steps are the same;
 * listings page, deletes go in DeleteObjects batches (narinfos batch by
 * batch in the plan's order, referrers first), and `--max-size` bounds the
 * bytes of this cache's objects in the bucket (the KV database stays local
 * and is not counted, as packs in other storages are not for the kv backend).
 */
import { K } from "../kv/keys.ts";
import { vacuumKv } from "../kv/kv_files.ts";
import type { BatchItem, Stats } from "../kv/meta_store.ts";
import type { NarFileRecord } from "../kv/records.ts";
import { leaseHeld, liveLease } from "./_alive.ts";
import {
  type FsPath,
  type FsTarget,
  listFsPaths,
  listNarFiles,
  referenceHashes,
} from "./_fs_paths.ts";
import { narFileHeld, recentUploads } from "./_liveness.ts";
import { type CacheBytes, measureCache } from "./_measure.ts";
import { type GcSpace, overLimitProblem } from "./gc_space.ts";
import { type GcPath, type GcPlan, planGc } from "./plan_gc.ts";
import { liveRootHashes } from "./roots.ts";
import {
  DEFAULT_GRACE_MS,
  dryRunSpace,
  GcBusyError,
  type GcEntry,
  type GcOptions,
  type GcReport,
} from "./run_gc.ts";
import { type ModelFile, SpaceModel } from "./space_model.ts";
import { emptySweep, type SweepStats } from "./sweep_store.ts";
import { narinfoName } from "../store/flat_files.ts";
import {
  bucketSideFiles,
  localSideFiles,
  modelSides,
  type SideFiles,
  sideFilesOf,
  sideSince,
  type SideUser,
  type Since,
  sweepSideFiles,
} from "./side_files.ts";

const MAX_ROUNDS = 3;

export async function runFsGc(t: FsTarget, opts: GcOptions = {}): Promise<GcReport> {
  const now = opts.now ?? Date.now();
  const started = performance.now();
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const since = now - graceMs;
  const orphansBefore = sideSince(now, graceMs, opts.maxAgeMs);
  if (!opts.dryRun && !(await t.meta.tryGcLock(3_600_000, (l) => leaseHeld(l)))) {
    throw new GcBusyError("another gc is running on this cache");
  }
  let released = false;
  const side = t.files.kind === "local" ? localSideFiles(t.layout) : bucketSideFiles(t.files);
  try {
    const start = await measureFlat(t, side);
    let disk: CacheBytes = start;
    let first: GcPlan | undefined;
    let last: GcPlan | undefined;
    let before: Stats | undefined;
    let firstFiles: Map<string, { size: number }> | undefined;
    const removed: FsPath[] = [];
    const sweep = emptySweep();
    let leasePid: number | undefined;
    let rounds = 0;
    let vacuumed = false;
    let narinfoBytes = 0;
    while (rounds < MAX_ROUNDS) {
      rounds++;
      const records = await listFsPaths(t.files);
      const files = await listNarFiles(t.files);
      before ??= statsOf(records, files);
      firstFiles ??= files;
      const lease = await liveLease(t.meta, now);
      const plan = planGc(await gcPaths(t, records, files), {
        now,
        maxAgeMs: opts.maxAgeMs,
        maxBytes: opts.maxBytes,
        graceMs,
        roots: await liveRootHashes(t.meta, now),
        space: await fsSpace(t, records, files, since, disk, removed, side, orphansBefore),
        graceYields: !lease,
      });
      first ??= plan;
      last = plan;
      if (opts.dryRun) {
        return {
          plan,
          paths: plan.remove.map((h) => entry(records.get(h)!, files)),
          before,
          after: before,
          space: dryRunSpace(plan, start, opts.maxBytes, graceMs, lease?.pid),
        };
      }
      const gone = await removeNarinfos(t, plan.remove.map((h) => records.get(h)!));
      gone.push(...await removeOrphans(t, new Set()));
      if (lease) leasePid = lease.pid;
      else {
        const deleted = await sweepNarFiles(t, since, freedNames([...removed, ...gone]), sweep);
        await abortStaleUploads(t, since, sweep);
        // An upload that found its NAR stored just before it was deleted may
        // have published a narinfo naming it: take such paths (and their
        // referrers) out again, so no listed path lacks its NAR.
        gone.push(...await removeOrphans(t, deleted));
        const remaining = [...(await listFsPaths(t.files)).values()].map(sideUser);
        const swept = await sweepSideFiles(
          side,
          [...removed, ...gone].map(sideUser),
          remaining,
          orphansBefore,
        );
        sweep.sideFiles += swept.files;
        sweep.sideBytesFreed += swept.bytes;
      }
      for (const p of gone) narinfoBytes += p.size;
      removed.push(...gone);
      await dropAccess(t, new Set(gone.map((p) => p.hashPart)));
      disk = await measureFlat(t, side);
      if (overLimit(disk, opts.maxBytes) && leasePid === undefined && disk.kvFree > 0) {
        vacuumKv(t.layout.db);
        vacuumed = true;
        disk = await measureFlat(t, side);
      }
      if (!overLimit(disk, opts.maxBytes) || leasePid !== undefined || gone.length === 0) break;
      if (plan.disk?.shortfall) break; // it removed all it may
    }
    sweep.narinfoBytesFreed = narinfoBytes;
    const after = statsOf(await listFsPaths(t.files), await listNarFiles(t.files));
    const ms = Math.round(performance.now() - started);
    await t.meta.appendAudit([{
      type: "GarbageCollect",
      time: Date.now(),
      ms,
      backend: "filesystem",
      paths: removed.length,
      narBytes: removed.reduce((n, p) => n + p.info.narSize, 0),
      fileBytes: before!.fileBytes - after.fileBytes,
      storedBytes: before!.storedBytes - after.storedBytes,
      ...sweep,
      diskBefore: start.total,
      diskAfter: disk.total,
    }]);
    await t.meta.recordRun("gc", ms, removed.length);
    await t.meta.releaseGcLock();
    released = true;
    disk = await measureFlat(t, side);
    if (overLimit(disk, opts.maxBytes) && leasePid === undefined && disk.kvFree > 0) {
      vacuumKv(t.layout.db);
      vacuumed = true;
      disk = await measureFlat(t, side);
    }
    const space: GcSpace = {
      limit: opts.maxBytes,
      before: start.total,
      after: disk.total,
      predicted: first!.disk!.after,
      freed: sweep.diskBytesFreed + narinfoBytes + sweep.sideBytesFreed,
      kv: { before: start.kv, after: disk.kv },
      vacuum: vacuumed,
      rounds,
      fits: !overLimit(disk, opts.maxBytes),
    };
    if (!space.fits) {
      space.problem = overLimitProblem(disk.total, opts.maxBytes!, graceMs, last, leasePid);
    }
    return {
      plan: first!,
      paths: removed.map((p) => entry(p, firstFiles!)),
      sweep,
      before: before!,
      after,
      space,
    };
  } finally {
    if (!opts.dryRun && !released) await t.meta.releaseGcLock();
  }
}

/** What --max-size bounds: the cache directory on disk, or this cache's objects in the bucket. */
async function measureFlat(t: FsTarget, side: SideFiles): Promise<CacheBytes> {
  if (t.files.kind === "local" && t.files.where === t.layout.root) {
    return await measureCache(t.layout);
  }
  let total = (await t.files.stat("nix-cache-info"))?.size ?? 0;
  for await (const f of t.files.narinfos()) total += f.size;
  for await (const f of t.files.nars()) total += f.size;
  for await (const f of side.list()) total += f.size;
  return { total, kv: 0, kvFree: 0 };
}

function overLimit(disk: CacheBytes, maxBytes: number | undefined): boolean {
  return maxBytes !== undefined && disk.total > maxBytes;
}

async function gcPaths(
  t: FsTarget,
  records: Map<string, FsPath>,
  files: Map<string, { size: number }>,
): Promise<GcPath[]> {
  const access = new Map<string, number>();
  for await (const [key, ms] of t.meta.scan<number>(K.accessPrefix)) {
    access.set(String(key[1]), ms);
  }
  return [...records.values()].map((p) => ({
    hashPart: p.hashPart,
    references: p.info.references.map((b) => b.slice(0, 32)),
    fileHash: p.file,
    fileSize: p.info.fileSize ?? files.get(p.file)?.size ?? 0,
    narSize: p.info.narSize,
    importedAt: p.writtenAt,
    accessedAt: access.get(p.hashPart),
  }));
}

/**
 * The space model of this layout: each path's narinfo file, each NAR file
 * (held per `_liveness.ts`), and the rest (KV database, directories, logs).
 */
async function fsSpace(
  t: FsTarget,
  records: Map<string, FsPath>,
  files: Map<string, { size: number; mtime: number }>,
  since: number,
  disk: CacheBytes,
  removed: FsPath[],
  side: SideFiles,
  sideSince: Since,
): Promise<SpaceModel> {
  const uploaded = await recentUploads(t.meta, since);
  // Narinfos earlier rounds of this run deleted count as users: their files are this run's too.
  const published = freedNames([...records.values(), ...removed]);
  const modelFiles = new Map<string, ModelFile>();
  let bytes = 0;
  for (const [name, f] of files) {
    const held = narFileHeld(name.slice(0, 52), f.mtime, since, uploaded, published.get(name));
    modelFiles.set(name, { bytes: f.size, chunks: [], held });
    bytes += f.size;
  }
  for (const p of records.values()) bytes += p.size;
  const sides = modelSides(
    await sideFilesOf(side, [...records.values()].map(sideUser)),
    sideSince,
  );
  for (const [name, f] of sides.files) modelFiles.set(name, f);
  return new SpaceModel({
    other: disk.total - bytes - sides.bytes,
    kvFree: disk.kvFree,
    compactBelow: 0,
    packs: new Map(),
    files: modelFiles,
    paths: new Map(
      [...records.values()].map((
        p,
      ) => [p.hashPart, { file: p.file, bytes: p.size, sides: sides.byPath.get(p.hashPart) }]),
    ),
  });
}

function sideUser(p: FsPath): SideUser {
  return { hashPart: p.hashPart, deriver: p.info.deriver };
}

/** NAR file names of these paths, with the latest time a narinfo naming each was written. */
function freedNames(paths: FsPath[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of paths) out.set(p.file, Math.max(out.get(p.file) ?? 0, p.writtenAt));
  return out;
}

/** Deletes these narinfos in order (a bucket: in batches); returns those that were there. */
async function removeNarinfos(t: FsTarget, paths: FsPath[]): Promise<FsPath[]> {
  const deleted = new Set(await t.files.remove(paths.map((p) => narinfoName(p.hashPart))));
  return paths.filter((p) => deleted.has(narinfoName(p.hashPart)));
}

/** Multipart uploads under `nar/` a killed import or upload left, older than the grace period. */
async function abortStaleUploads(t: FsTarget, since: number, s: SweepStats): Promise<void> {
  if (!t.files.pendingUploads) return;
  for await (const u of t.files.pendingUploads()) {
    if (u.started >= since) continue;
    await t.files.abortUpload!(u);
    s.uploadsAborted++;
  }
}

/**
 * Deletes narinfos whose references are gone, or whose NAR file is among
 * `deletedFiles`, until none is left.
 */
async function removeOrphans(t: FsTarget, deletedFiles: Set<string>): Promise<FsPath[]> {
  const out: FsPath[] = [];
  for (let round = 0; round < 100; round++) {
    const have = await listFsPaths(t.files);
    const bad = [...have.values()].filter((p) =>
      deletedFiles.has(p.file) || referenceHashes(p).some((h) => !have.has(h))
    );
    if (!bad.length) return out;
    out.push(...await removeNarinfos(t, bad));
  }
  return out;
}

/**
 * Deletes the NAR files no narinfo names that work in progress does not
 * hold (`_liveness.ts`; `freed`: the files of the narinfos this run deleted);
 * returns their names.
 */
async function sweepNarFiles(
  t: FsTarget,
  since: number,
  freed: Map<string, number>,
  s: SweepStats,
): Promise<Set<string>> {
  const uploaded = await recentUploads(t.meta, since);
  const used = new Set([...(await listFsPaths(t.files)).values()].map((p) => p.file));
  const deleted = new Set<string>();
  const held = (name: string, mtime: number) =>
    narFileHeld(name.slice(0, 52), mtime, since, uploaded, freed.get(name));
  const doomed: { name: string; size: number }[] = [];
  for (const [name, f] of await listNarFiles(t.files)) {
    if (used.has(name) || held(name, f.mtime)) continue;
    // Stored again since it was listed (an upload or import of the same NAR)?
    const st = await t.files.stat(`nar/${name}`);
    if (!st || held(name, st.mtime)) continue;
    doomed.push({ name, size: st.size });
  }
  const removed = new Set(await t.files.remove(doomed.map((d) => `nar/${d.name}`)));
  for (const d of doomed) {
    if (!removed.has(`nar/${d.name}`)) continue;
    deleted.add(d.name);
    s.narFiles++;
    s.diskBytesFreed += d.size;
    await forgetNarFile(t, d.name.slice(0, 52));
  }
  return deleted;
}

/** Drops the KV record of a deleted NAR file and its NarHash index entry. */
async function forgetNarFile(t: FsTarget, fileHash32: string): Promise<void> {
  const rec = await t.meta.getNarFile(fileHash32);
  if (!rec) return;
  const items: BatchItem[] = [{
    key: [...K.narfile(fileHash32)],
    stats: { fileBytes: -rec.fileSize, storedBytes: -rec.fileSize },
  }];
  const narHash32 = narHashPart(rec);
  if ((await t.meta.findNarFile(narHash32)) === fileHash32) {
    items.push({ key: [...K.narhash(narHash32)] });
  }
  await t.meta.applyMany(items);
}

async function dropAccess(t: FsTarget, gone: Set<string>): Promise<void> {
  const stale: BatchItem[] = [];
  for await (const [key] of t.meta.scan(K.accessPrefix)) {
    if (gone.has(String(key[1]))) stale.push({ key });
  }
  await t.meta.applyMany(stale);
}

function narHashPart(rec: NarFileRecord): string {
  return rec.narHash.replace(/^sha256:/, "");
}

function entry(p: FsPath, files: Map<string, { size: number }>): GcEntry {
  return {
    storePath: p.info.storePath,
    narSize: p.info.narSize,
    fileSize: p.info.fileSize ?? files.get(p.file)?.size ?? 0,
  };
}

/** The filesystem backend's counters, from disk (its KV counters are not kept). */
function statsOf(records: Map<string, FsPath>, files: Map<string, { size: number }>): Stats {
  let narBytes = 0, fileBytes = 0;
  for (const p of records.values()) narBytes += p.info.narSize;
  for (const f of files.values()) fileBytes += f.size;
  return { paths: records.size, narBytes, fileBytes, storedBytes: fileBytes, chunks: 0 };
}
