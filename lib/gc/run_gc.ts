/**
 * One gc run over the kv backend:
 *
 * ```
 * narinfo records + access times + roots ─▶ planGc ─▶ (--dry-run stops here)
 *   ─▶ remove the narinfos (counters, "del" changes: running servers drop them)
 *   ─▶ remove any path whose reference went meanwhile (an import racing with gc)
 *   ─▶ sweepStore: NAR files, chunk entries, manifests, packs
 *   ─▶ one GarbageCollect audit event
 * ```
 * Runs are serialised by a lock in KV (`["gclock"]`), released at the end
 * or void once its process is gone.
 */
import { K } from "../kv/keys.ts";
import type { Stats } from "../kv/meta_store.ts";
import type { Lease, NarRecord } from "../kv/records.ts";
import { leaseHeld } from "./_alive.ts";
import { type GcPath, type GcPlan, planGc } from "./plan_gc.ts";
import { liveRootHashes } from "./roots.ts";
import { type SweepStats, sweepStore, type SweepTarget } from "./sweep_store.ts";

export interface GcOptions {
  maxAgeMs?: number;
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
  plan: GcPlan;
  /** What the plan removes (dry run) or removed. */
  paths: GcEntry[];
  sweep?: SweepStats;
  before: Stats;
  after: Stats;
}

export const DEFAULT_GRACE_MS = 15 * 60_000;

export class GcBusyError extends Error {
  override name = "GcBusyError";
}

export async function runGc(t: SweepTarget, opts: GcOptions = {}): Promise<GcReport> {
  const now = opts.now ?? Date.now();
  const started = performance.now();
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  if (!opts.dryRun && !(await t.meta.tryGcLock(3_600_000, (l) => leaseHeld(l)))) {
    throw new GcBusyError("another gc is running on this cache");
  }
  try {
    const before = await t.meta.stats();
    const records = new Map<string, NarRecord>();
    for await (const [h, r] of t.meta.listNars()) records.set(h, r);
    const access = new Map<string, number>();
    for await (const [key, ms] of t.meta.scan<number>(K.accessPrefix)) {
      access.set(String(key[1]), ms);
    }
    const paths: GcPath[] = [...records].map(([h, r]) => ({
      hashPart: h,
      references: r.references.map((b) => b.slice(0, 32)),
      fileHash: r.fileHash,
      fileSize: r.fileSize,
      narSize: r.narSize,
      importedAt: r.importedAt,
      accessedAt: access.get(h),
    }));
    const plan = planGc(paths, {
      now,
      maxAgeMs: opts.maxAgeMs,
      maxBytes: opts.maxBytes,
      graceMs,
      roots: await liveRootHashes(t.meta, now),
    });
    const entry = (r: NarRecord): GcEntry => ({
      storePath: r.storePath,
      narSize: r.narSize,
      fileSize: r.fileSize,
    });
    if (opts.dryRun) {
      return { plan, paths: plan.remove.map((h) => entry(records.get(h)!)), before, after: before };
    }
    const removed = await t.meta.removePaths(plan.remove);
    removed.push(...await removeOrphans(t));
    let leased = false;
    for await (const [, l] of t.meta.scan<Lease>(K.leasePrefix)) {
      if (await leaseHeld(l, now)) leased = true;
    }
    const sweep = await sweepStore(t, { now, graceMs, leased, compactBelow: opts.compactBelow });
    // Access times of paths that are gone (recorded just before they went).
    const published = new Set<string>();
    for await (const [h] of t.meta.listNars()) published.add(h);
    const stale = [];
    for await (const [key] of t.meta.scan(K.accessPrefix)) {
      if (!published.has(String(key[1]))) stale.push({ key });
    }
    await t.meta.applyMany(stale);
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
    }]);
    await t.meta.recordRun("gc", ms, removed.length);
    return { plan, paths: removed.map(entry), sweep, before, after };
  } finally {
    if (!opts.dryRun) await t.meta.releaseGcLock();
  }
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
