/**
 * Which paths a gc run removes: pure, so a property test can throw random
 * graphs at it.
 *
 * Rules, in order:
 * - protected: the closures of the roots (pins, HTTP roots), which never go,
 *   and of paths imported within the grace period (work in progress), which
 *   go only when `maxBytes` cannot be met otherwise and `graceYields` says no
 *   import is running.
 * - a path's *effective* last use is the latest use (import or narinfo hit)
 *   of the path and of everything that references it, directly or not:
 *   removing it removes those too, so they must all be unused for as long.
 * - `maxAgeMs`: every unprotected path whose effective last use is older goes.
 * - `maxBytes`: then, oldest effective last use first, a path goes with all
 *   its referrers until the cache fits: the bytes on disk `space` predicts
 *   (see `space_model.ts`), or without one the distinct NAR files left.
 * So whatever goes takes its referrers along: no remaining path ever lacks a
 * reference.
 */
import { type SpaceChoice, SpaceModel } from "./space_model.ts";

/** One published path, as gc sees it. */
export interface GcPath {
  hashPart: string;
  /** Hash parts of the paths it references (itself may be among them). */
  references: string[];
  /** The NAR file it is served from; paths sharing one file free it together. */
  fileHash: string;
  fileSize: number;
  narSize: number;
  importedAt: number;
  /** Last narinfo hit (ms), if any was recorded. */
  accessedAt?: number;
}

export interface GcLimits {
  now: number;
  maxAgeMs?: number;
  maxBytes?: number;
  /** Paths imported this recently are kept with their closure (work in progress). */
  graceMs?: number;
  /** Hash parts whose closures are kept. */
  roots: Iterable<string>;
  /** The cache on disk; without it `maxBytes` counts the distinct NAR files. */
  space?: SpaceModel;
  /** Paths within the grace period may go to meet `maxBytes` (no import is running). */
  graceYields?: boolean;
}

/** Why the cache cannot fit `maxBytes`: what stays, in predicted bytes on disk. */
export interface GcShortfall {
  /** The closures of pins and gc roots, beyond what the cache needs without them. */
  roots: { paths: number; bytes: number };
  /** Paths within the grace period that were kept (an import is running). */
  recent: { paths: number; bytes: number };
  /** NAR files and packs work in progress holds (uploads awaiting their narinfo, imports). */
  inProgress: number;
  /** What no path needs: the KV database (without its free pages), directories, logs… */
  base: number;
}

export interface GcPlan {
  /** Hash parts to remove, referrers first. */
  remove: string[];
  /**
   * How many of `remove`, at its end, are within the grace period (taken to
   * meet `maxBytes`): removed only if no import started meanwhile.
   */
  recentRemoved: number;
  /** NAR file bytes before and after (distinct files). */
  bytesBefore: number;
  bytesAfter: number;
  /** How many paths stay protected by roots or the grace period. */
  protectedPaths: number;
  /** Bytes on disk: measured before, predicted after (only with `limits.space`). */
  disk?: SpaceChoice & { before: number; shortfall?: GcShortfall };
}

export function planGc(paths: GcPath[], limits: GcLimits): GcPlan {
  const byHash = new Map(paths.map((p) => [p.hashPart, p]));
  const referrers = new Map<string, string[]>();
  for (const p of paths) {
    for (const r of p.references) {
      if (r === p.hashPart || !byHash.has(r)) continue;
      let list = referrers.get(r);
      if (!list) referrers.set(r, list = []);
      list.push(p.hashPart);
    }
  }
  const rooted = closureOf(limits.roots, byHash);
  const recent = new Set<string>();
  if (limits.graceMs !== undefined) {
    const since = limits.now - limits.graceMs;
    const young = paths.filter((p) => p.importedAt >= since).map((p) => p.hashPart);
    for (const h of closureOf(young, byHash)) if (!rooted.has(h)) recent.add(h);
  }
  const eff = effectiveUse(paths, byHash);
  const space = limits.space ?? narFileSpace(paths);

  const files = new Map<string, { size: number; users: number }>();
  for (const p of paths) {
    const f = files.get(p.fileHash);
    if (f) f.users++;
    else files.set(p.fileHash, { size: p.fileSize, users: 1 });
  }
  let bytes = 0;
  for (const f of files.values()) bytes += f.size;
  const bytesBefore = bytes;
  const removed = new Set<string>();
  const drop = (h: string) => {
    removed.add(h);
    space.removePath(h);
    const f = files.get(byHash.get(h)!.fileHash)!;
    if (--f.users === 0) bytes -= f.size;
  };
  if (limits.maxAgeMs !== undefined) {
    const cutoff = limits.now - limits.maxAgeMs;
    for (const p of paths) {
      const h = p.hashPart;
      if (!rooted.has(h) && !recent.has(h) && eff.get(h)! < cutoff) drop(h);
    }
  }
  const max = limits.maxBytes;
  const lru = (a: GcPath, b: GcPath) =>
    eff.get(a.hashPart)! - eff.get(b.hashPart)! || a.hashPart.localeCompare(b.hashPart);
  const shrink = (candidates: GcPath[]) => {
    for (const p of candidates.sort(lru)) {
      if (space.reachable() <= max!) return;
      if (removed.has(p.hashPart)) continue;
      // The path and everything above it; none is protected more than p.
      const stack = [p.hashPart];
      while (stack.length) {
        const h = stack.pop()!;
        if (removed.has(h)) continue;
        drop(h);
        for (const r of referrers.get(h) ?? []) if (!removed.has(r)) stack.push(r);
      }
    }
  };
  if (max !== undefined) {
    shrink(paths.filter((p) => !rooted.has(p.hashPart) && !recent.has(p.hashPart)));
    if (limits.graceYields) shrink(paths.filter((p) => recent.has(p.hashPart)));
  }
  // Older paths first, then the recent ones: none of the older is referenced by a recent one
  // (it would be in that one's closure, so recent too), so referrers still come first.
  const older = new Set([...removed].filter((h) => !recent.has(h)));
  const young = new Set([...removed].filter((h) => recent.has(h)));
  const remove = [...referrersFirst(older, byHash, eff), ...referrersFirst(young, byHash, eff)];
  const plan: GcPlan = {
    remove,
    recentRemoved: young.size,
    bytesBefore,
    bytesAfter: bytes,
    protectedPaths: rooted.size + [...recent].filter((h) => !removed.has(h)).length,
  };
  if (limits.space) {
    const choice = space.choose(max);
    plan.disk = { before: space.before, ...choice };
    if (max !== undefined && choice.after > max) {
      // What keeps it over: take the rest out of the model, recent paths first, then rooted ones.
      const left = (set: Set<string>) => [...set].filter((h) => !removed.has(h));
      const at = space.reachable();
      const keptRecent = left(recent);
      for (const h of keptRecent) space.removePath(h);
      const withRoots = space.reachable();
      const keptRooted = left(rooted);
      for (const h of keptRooted) space.removePath(h);
      const rest = space.reachable();
      plan.disk.shortfall = {
        roots: { paths: keptRooted.length, bytes: withRoots - rest },
        recent: { paths: keptRecent.length, bytes: at - withRoots },
        inProgress: rest - space.base(),
        base: space.base(),
      };
    }
  }
  return plan;
}

/** The space model without a disk: the distinct NAR files of the paths, nothing else. */
function narFileSpace(paths: GcPath[]): SpaceModel {
  const files = new Map<string, { bytes: number; chunks: []; held: false }>();
  for (const p of paths) files.set(p.fileHash, { bytes: p.fileSize, chunks: [], held: false });
  return new SpaceModel({
    other: 0,
    kvFree: 0,
    compactBelow: 0,
    packs: new Map(),
    files,
    paths: new Map(paths.map((p) => [p.hashPart, { file: p.fileHash, bytes: 0 }])),
  });
}

/**
 * Orders the removal so every path comes after all its referrers: removed in
 * this order, even a run cut short by a crash leaves no path without a
 * reference. Among paths free to go, the least recently used go first.
 */
function referrersFirst(
  removed: Set<string>,
  byHash: Map<string, GcPath>,
  eff: Map<string, number>,
): string[] {
  const refs = (h: string) =>
    new Set(byHash.get(h)!.references.filter((r) => r !== h && removed.has(r)));
  const waiting = new Map<string, number>([...removed].map((h) => [h, 0]));
  for (const h of removed) for (const r of refs(h)) waiting.set(r, waiting.get(r)! + 1);
  const byUse = (a: string, b: string) => eff.get(b)! - eff.get(a)! || b.localeCompare(a);
  const ready = [...removed].filter((h) => waiting.get(h) === 0).sort(byUse);
  const out: string[] = [];
  while (ready.length) {
    const h = ready.pop()!;
    out.push(h);
    for (const r of refs(h)) {
      const n = waiting.get(r)! - 1;
      waiting.set(r, n);
      if (n === 0) (ready.push(r), ready.sort(byUse));
    }
  }
  return out;
}

/** The paths `from` reach, themselves included (hash parts not cached are skipped). */
function closureOf(from: Iterable<string>, byHash: Map<string, GcPath>): Set<string> {
  const seen = new Set<string>();
  const stack = [...from];
  while (stack.length) {
    const h = stack.pop()!;
    const p = byHash.get(h);
    if (!p || seen.has(h)) continue;
    seen.add(h);
    for (const r of p.references) if (!seen.has(r)) stack.push(r);
  }
  return seen;
}

/** Latest use of each path or of anything that reaches it (a fixpoint; cycles are fine). */
function effectiveUse(paths: GcPath[], byHash: Map<string, GcPath>): Map<string, number> {
  const eff = new Map<string, number>();
  for (const p of paths) eff.set(p.hashPart, Math.max(p.importedAt, p.accessedAt ?? 0));
  // Push each path's time down to its references until nothing changes.
  const work = paths.map((p) => p.hashPart);
  while (work.length) {
    const h = work.pop()!;
    const t = eff.get(h)!;
    for (const r of byHash.get(h)!.references) {
      if (r === h || !byHash.has(r)) continue;
      if (eff.get(r)! < t) {
        eff.set(r, t);
        work.push(r);
      }
    }
  }
  return eff;
}
