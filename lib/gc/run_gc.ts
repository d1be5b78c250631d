/**
 * One gc run over the kv backend:
 *
 * ```
 * measure the cache (du -sb style) + narinfo records + access times + roots
 *   ─▶ space model ─▶ planGc ─▶ (--dry-run stops here: what it would free)
 *   ─▶ remove the narinfos (counters, "del" changes: running servers drop them)
 *   ─▶ remove any path whose reference went meanwhile (an import racing with gc)
 *   ─▶ sweepStore: NAR files, chunk entries, manifests, packs, compaction
 *   ─▶ the removed paths' listings and build logs (`side_files.ts`)
 *   ─▶ measure; over --max-size? VACUUM the database if it has free pages,
 *      then plan again from what is on disk (at most 3 rounds)
 *   ─▶ one GarbageCollect audit event ─▶ measure: fits, or why not
 * ```
 * Runs are serialised by a lock in KV (`["gclock"]`), released at the end
 * or void once its process is gone.
 */
import { K } from "../kv/keys.ts";
import { vacuumKv } from "../kv/kv_files.ts";
import type { Stats } from "../kv/meta_store.ts";
import type { NarRecord } from "../kv/records.ts";
import { leaseHeld, liveLease } from "./_alive.ts";
import { kvSpace } from "./_kv_space.ts";
import { type CacheBytes, measureCache } from "./_measure.ts";
import { type GcSpace, overLimitProblem } from "./gc_space.ts";
import { type GcPath, type GcPlan, planGc } from "./plan_gc.ts";
import { liveRootHashes } from "./roots.ts";
import { emptySweep, type SweepStats, sweepStore, type SweepTarget } from "./sweep_store.ts";
import { localSideFiles, sideSince, sweepSideFiles } from "./side_files.ts";

export interface GcOptions {
  maxAgeMs?: number;
  /** Bytes on disk the cache must fit in (see `gc_space.ts` for what counts). */
  maxBytes?: number;
  dryRun?: boolean;
  /** Work younger than this is kept (default 15 minutes). */
  graceMs?: number;
  compactBelow?: number;
  now?: number;
}

/** A path in the plan or removed. */
export interface GcEntry {
  storePath: string;
  narSize: number;
  fileSize: number;
}

export interface GcReport {
  /** The first round's plan (the one a dry run shows). */
  plan: GcPlan;
  /** What the plan removes (dry run) or removed. */
  paths: GcEntry[];
  sweep?: SweepStats;
  before: Stats;
  after: Stats;
  /** Bytes on disk and the verdict on `maxBytes`. */
  space: GcSpace;
}

export const DEFAULT_GRACE_MS = 15 * 60_000;
const MAX_ROUNDS = 3;

export class GcBusyError extends Error {
  override name = "GcBusyError";
}

export async function runGc(t: SweepTarget, opts: GcOptions = {}): Promise<GcReport> {
  const now = opts.now ?? Date.now();
  const started = performance.now();
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const compactBelow = opts.compactBelow ?? 0.5;
  if (!opts.dryRun && !(await t.meta.tryGcLock(3_600_000, (l) => leaseHeld(l)))) {
    throw new GcBusyError("another gc is running on this cache");
  }
  let released = false;
  try {
    const before = await t.meta.stats();
    const start = await measureCache(t.layout);
    let disk: CacheBytes = start;
    let first: GcPlan | undefined;
    let last: GcPlan | undefined;
    const removed: NarRecord[] = [];
    const sweep = emptySweep();
    let leasePid: number | undefined;
    let rounds = 0;
    let vacuumed = false;
    const side = localSideFiles(t.layout);
    const orphansBefore = sideSince(now, graceMs, opts.maxAgeMs);
    while (rounds < MAX_ROUNDS) {
      rounds++;
      const records = new Map<string, NarRecord>();
      for await (const [h, r] of t.meta.listNars()) records.set(h, r);
      const leaseGen = await t.meta.leaseGen(); // before looking: a lease taken later changes it
      const lease = await liveLease(t.meta, now);
      const space = await kvSpace(t, records, {
        since: now - graceMs,
        compactBelow,
        disk,
        removed,
        side,
        sideSince: orphansBefore,
      });
      const plan = planGc(await gcPaths(t, records), {
        now,
        maxAgeMs: opts.maxAgeMs,
        maxBytes: opts.maxBytes,
        graceMs,
        roots: await liveRootHashes(t.meta, now),
        space,
        graceYields: !lease,
      });
      first ??= plan;
      last = plan;
      if (opts.dryRun) {
        return {
          plan,
          paths: plan.remove.map((h) => entry(records.get(h)!)),
          before,
          after: before,
          space: dryRunSpace(plan, start, opts.maxBytes, graceMs, lease?.pid),
        };
      }
      // Paths within the grace period go only if no import started since the plan looked:
      // one may have found them published and be about to publish what references them.
      const split = plan.remove.length - plan.recentRemoved;
      const gone = await t.meta.removePaths(plan.remove.slice(0, split));
      gone.push(...await t.meta.removePaths(plan.remove.slice(split), leaseGen));
      gone.push(...await removeOrphans(t));
      removed.push(...gone);
      const s = await sweepStore(t, {
        now,
        graceMs,
        leased: lease !== undefined,
        compactBelow,
        freed: freedFiles(removed),
        compact: plan.disk?.compact,
      });
      leasePid = lease?.pid ?? s.leasedBy;
      if (leasePid === undefined) {
        // As files are: not while an import holds a lease (a dry run then promises none).
        const remaining = [];
        for await (const [h, r] of t.meta.listNars()) {
          remaining.push({ hashPart: h, deriver: r.deriver });
        }
        const swept = await sweepSideFiles(side, removed.map(sideUser), remaining, orphansBefore);
        s.sideFiles += swept.files;
        s.sideBytesFreed += swept.bytes;
      }
      addSweep(sweep, s);
      await dropStaleAccess(t);
      disk = await measureCache(t.layout);
      if (overLimit(disk, opts.maxBytes) && leasePid === undefined && disk.kvFree > 0) {
        vacuumKv(t.layout.db);
        vacuumed = true;
        disk = await measureCache(t.layout);
      }
      // Another round only helps when the plan expected to fit and something changed.
      const progress = gone.length > 0 || s.packsDeleted + s.packsCompacted + s.manifests > 0;
      if (!overLimit(disk, opts.maxBytes) || leasePid !== undefined || !progress) break;
      if (plan.disk?.shortfall) break;
    }
    const after = await t.meta.stats();
    const ms = Math.round(performance.now() - started);
    await t.meta.appendAudit([{
      type: "GarbageCollect",
      time: Date.now(),
      ms,
      paths: removed.length,
      narBytes: removed.reduce((n, r) => n + r.narSize, 0),
      fileBytes: before.fileBytes - after.fileBytes,
      storedBytes: before.storedBytes - after.storedBytes,
      ...sweep,
      diskBefore: start.total,
      diskAfter: disk.total,
    }]);
    await t.meta.recordRun("gc", ms, removed.length);
    await t.meta.releaseGcLock();
    released = true;
    // The audit event and the lock took database pages: measure once more.
    disk = await measureCache(t.layout);
    if (overLimit(disk, opts.maxBytes) && leasePid === undefined && disk.kvFree > 0) {
      vacuumKv(t.layout.db);
      vacuumed = true;
      disk = await measureCache(t.layout);
    }
    const space: GcSpace = {
      limit: opts.maxBytes,
      before: start.total,
      after: disk.total,
      predicted: first!.disk!.after,
      freed: sweep.diskBytesFreed + sweep.manifestBytesFreed + sweep.sideBytesFreed,
      kv: { before: start.kv, after: disk.kv },
      vacuum: vacuumed,
      rounds,
      fits: !overLimit(disk, opts.maxBytes),
    };
    if (!space.fits) {
      space.problem = overLimitProblem(disk.total, opts.maxBytes!, graceMs, last, leasePid);
    }
    return { plan: first!, paths: removed.map(entry), sweep, before, after, space };
  } finally {
    if (!opts.dryRun && !released) await t.meta.releaseGcLock();
  }
}

function overLimit(disk: CacheBytes, maxBytes: number | undefined): boolean {
  return maxBytes !== undefined && disk.total > maxBytes;
}

/** A dry run's space report: the plan's figures. */
export function dryRunSpace(
  plan: GcPlan,
  start: CacheBytes,
  maxBytes: number | undefined,
  graceMs: number,
  leasePid: number | undefined,
): GcSpace {
  const d = plan.disk!;
  // With a lease held, a real run now deletes no file.
  const after = leasePid === undefined ? d.after : start.total;
  const space: GcSpace = {
    limit: maxBytes,
    before: start.total,
    after,
    predicted: d.after,
    freed: leasePid === undefined ? d.freed : 0,
    kv: { before: start.kv, after: start.kv - (d.vacuum ? start.kvFree : 0) },
    vacuum: d.vacuum,
    rounds: 1,
    fits: maxBytes === undefined || after <= maxBytes,
  };
  if (!space.fits) {
    space.problem = overLimitProblem(after, maxBytes!, graceMs, plan, leasePid, true);
  }
  return space;
}

/** The NAR files of removed paths, with the latest publish time among them. */
export function freedFiles(gone: { fileHash: string; importedAt: number }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of gone) out.set(r.fileHash, Math.max(out.get(r.fileHash) ?? 0, r.importedAt));
  return out;
}

function addSweep(into: SweepStats, s: SweepStats): void {
  for (const k of Object.keys(into) as (keyof SweepStats)[]) {
    if (k !== "leasedBy") into[k] += s[k] ?? 0;
  }
  if (s.leasedBy !== undefined) into.leasedBy = s.leasedBy;
}

async function gcPaths(t: SweepTarget, records: Map<string, NarRecord>): Promise<GcPath[]> {
  const access = new Map<string, number>();
  for await (const [key, ms] of t.meta.scan<number>(K.accessPrefix)) {
    access.set(String(key[1]), ms);
  }
  return [...records].map(([h, r]) => ({
    hashPart: h,
    references: r.references.map((b) => b.slice(0, 32)),
    fileHash: r.fileHash,
    fileSize: r.fileSize,
    narSize: r.narSize,
    importedAt: r.importedAt,
    accessedAt: access.get(h),
  }));
}

/** Access times of paths that are gone (recorded just before they went). */
async function dropStaleAccess(t: SweepTarget): Promise<void> {
  const published = new Set<string>();
  for await (const [h] of t.meta.listNars()) published.add(h);
  const stale = [];
  for await (const [key] of t.meta.scan(K.accessPrefix)) {
    if (!published.has(String(key[1]))) stale.push({ key });
  }
  await t.meta.applyMany(stale);
}

/** A removed path as `side_files.ts` takes it (its record names its store path, not its key). */
function sideUser(r: NarRecord) {
  const base = r.storePath.slice(r.storePath.lastIndexOf("/") + 1);
  return { hashPart: base.slice(0, 32), deriver: r.deriver };
}

function entry(r: NarRecord): GcEntry {
  return { storePath: r.storePath, narSize: r.narSize, fileSize: r.fileSize };
}

/**
 * Removes paths whose references are gone, until none is left: a path
 * published by an import that checked its references just before gc
 * removed one of them.
 */
async function removeOrphans(t: SweepTarget): Promise<NarRecord[]> {
  const out: NarRecord[] = [];
  for (let round = 0; round < 100; round++) {
    const have = new Map<string, NarRecord>();
    for await (const [h, r] of t.meta.listNars()) have.set(h, r);
    const bad = [...have].filter(([, r]) => r.references.some((b) => !have.has(b.slice(0, 32))))
      .map(([h]) => h);
    if (!bad.length) return out;
    out.push(...await t.meta.removePaths(bad));
  }
  return out;
}
