/**
 * One gc run over the filesystem backend (the `nix copy --to file://` layout):
 *
 * ```
 * <hash>.narinfo files + access times + roots (KV) ─▶ planGc ─▶ (--dry-run stops here)
 *   ─▶ delete the narinfos, referrers first (a run cut short leaves whole closures)
 *   ─▶ delete any narinfo whose reference went meanwhile (a racing import)
 *   ─▶ delete nar/ files no narinfo names, older than the grace period
 *      (an upload's NAR waits there for its narinfo), with their KV records
 *   ─▶ one GarbageCollect audit event
 * ```
 * The same plan as the kv backend (`planGc`), the same lock (`["gclock"]`).
 * A download that already started keeps reading: `serve` opens the file
 * before answering, and an unlinked file stays readable until closed.
 */
import { K } from "../kv/keys.ts";
import type { BatchItem, Stats } from "../kv/meta_store.ts";
import type { Lease, NarFileRecord } from "../kv/records.ts";
import { leaseHeld } from "./_alive.ts";
import {
  type FsPath,
  type FsTarget,
  listFsPaths,
  listNarFiles,
  narinfoPath,
  referenceHashes,
} from "./_fs_paths.ts";
import { type GcPath, planGc } from "./plan_gc.ts";
import { liveRootHashes } from "./roots.ts";
import {
  DEFAULT_GRACE_MS,
  GcBusyError,
  type GcEntry,
  type GcOptions,
  type GcReport,
} from "./run_gc.ts";
import type { SweepStats } from "./sweep_store.ts";

export async function runFsGc(t: FsTarget, opts: GcOptions = {}): Promise<GcReport> {
  const now = opts.now ?? Date.now();
  const started = performance.now();
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  if (!opts.dryRun && !(await t.meta.tryGcLock(3_600_000, (l) => leaseHeld(l)))) {
    throw new GcBusyError("another gc is running on this cache");
  }
  try {
    const records = await listFsPaths(t.layout);
    const files = await listNarFiles(t.layout);
    const before = statsOf(records, files);
    const access = new Map<string, number>();
    for await (const [key, ms] of t.meta.scan<number>(K.accessPrefix)) {
      access.set(String(key[1]), ms);
    }
    const paths: GcPath[] = [...records.values()].map((p) => ({
      hashPart: p.hashPart,
      references: p.info.references.map((b) => b.slice(0, 32)),
      fileHash: p.file,
      fileSize: p.info.fileSize ?? files.get(p.file)?.size ?? 0,
      narSize: p.info.narSize,
      importedAt: p.writtenAt,
      accessedAt: access.get(p.hashPart),
    }));
    const plan = planGc(paths, {
      now,
      maxAgeMs: opts.maxAgeMs,
      maxBytes: opts.maxBytes,
      graceMs,
      roots: await liveRootHashes(t.meta, now),
    });
    if (opts.dryRun) {
      return {
        plan,
        paths: plan.remove.map((h) => entry(records.get(h)!, files)),
        before,
        after: before,
      };
    }
    const removed: FsPath[] = [];
    for (const h of plan.remove) {
      if (await removeNarinfo(t, h)) removed.push(records.get(h)!);
    }
    removed.push(...await removeOrphans(t, new Set()));

    let leased = false;
    for await (const [, l] of t.meta.scan<Lease>(K.leasePrefix)) {
      if (await leaseHeld(l, now)) leased = true;
    }
    const sweep = emptySweep();
    if (!leased) {
      const deleted = await sweepNarFiles(t, now - graceMs, sweep);
      // An upload that found its NAR stored just before it was deleted may
      // have published a narinfo naming it: take such paths (and their
      // referrers) out again, so no listed path lacks its NAR.
      removed.push(...await removeOrphans(t, deleted));
    }
    const gone = new Set(removed.map((p) => p.hashPart));
    const stale: BatchItem[] = [];
    for await (const [key] of t.meta.scan(K.accessPrefix)) {
      if (gone.has(String(key[1]))) stale.push({ key });
    }
    await t.meta.applyMany(stale);

    const after = statsOf(await listFsPaths(t.layout), await listNarFiles(t.layout));
    const ms = Math.round(performance.now() - started);
    await t.meta.appendAudit([{
      type: "GarbageCollect",
      time: Date.now(),
      ms,
      backend: "filesystem",
      paths: removed.length,
      narBytes: removed.reduce((n, p) => n + p.info.narSize, 0),
      fileBytes: before.fileBytes - after.fileBytes,
      storedBytes: before.storedBytes - after.storedBytes,
      ...sweep,
    }]);
    await t.meta.recordRun("gc", ms, removed.length);
    return { plan, paths: removed.map((p) => entry(p, files)), sweep, before, after };
  } finally {
    if (!opts.dryRun) await t.meta.releaseGcLock();
  }
}

async function removeNarinfo(t: FsTarget, hashPart: string): Promise<boolean> {
  try {
    await Deno.remove(narinfoPath(t.layout, hashPart));
    return true;
  } catch {
    return false; // gone already
  }
}

/**
 * Deletes narinfos whose references are gone, or whose NAR file is among
 * `deletedFiles`, until none is left.
 */
async function removeOrphans(t: FsTarget, deletedFiles: Set<string>): Promise<FsPath[]> {
  const out: FsPath[] = [];
  for (let round = 0; round < 100; round++) {
    const have = await listFsPaths(t.layout);
    const bad = [...have.values()].filter((p) =>
      deletedFiles.has(p.file) || referenceHashes(p).some((h) => !have.has(h))
    );
    if (!bad.length) return out;
    for (const p of bad) if (await removeNarinfo(t, p.hashPart)) out.push(p);
  }
  return out;
}

/** Deletes NAR files no narinfo names and older than `since`; returns their names. */
async function sweepNarFiles(t: FsTarget, since: number, s: SweepStats): Promise<Set<string>> {
  const used = new Set([...(await listFsPaths(t.layout)).values()].map((p) => p.file));
  const deleted = new Set<string>();
  for (const [name, f] of await listNarFiles(t.layout)) {
    if (used.has(name) || f.mtime >= since) continue;
    try {
      await Deno.remove(`${t.layout.nar}/${name}`);
    } catch {
      continue;
    }
    deleted.add(name);
    s.narFiles++;
    s.diskBytesFreed += f.size;
    await forgetNarFile(t, name.slice(0, 52));
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

function emptySweep(): SweepStats {
  return {
    narFiles: 0,
    manifests: 0,
    chunkEntries: 0,
    packsDeleted: 0,
    packsCompacted: 0,
    packsDoomed: 0,
    diskBytesFreed: 0,
  };
}
