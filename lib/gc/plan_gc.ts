/**
 * Which paths a gc run removes: pure, so a property test can throw random
 * graphs at it.
 *
 * Rules, in order:
 * - protected: the closures of the roots (pins, HTTP roots) and of paths
 *   imported within the grace period; a protected path never goes.
 * - a path's *effective* last use is the latest use (import or narinfo hit)
 *   of the path and of everything that references it, directly or not:
 *   removing it removes those too, so they must all be unused for as long.
 * - `maxAgeMs`: every unprotected path whose effective last use is older goes.
 * - `maxBytes`: then, oldest effective last use first, a path goes with all
 *   its referrers until the distinct NAR files left fit.
 * So whatever goes takes its referrers along: no remaining path ever lacks a
 * reference.
 */

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
}

export interface GcPlan {
  /** Hash parts to remove, least recently used first. */
  remove: string[];
  /** NAR file bytes before and after (distinct files). */
  bytesBefore: number;
  bytesAfter: number;
  /** How many paths are protected by roots or the grace period. */
  protectedPaths: number;
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
  const kept = protectedSet(paths, byHash, limits);
  const eff = effectiveUse(paths, byHash);

  const removed = new Set<string>();
  if (limits.maxAgeMs !== undefined) {
    const cutoff = limits.now - limits.maxAgeMs;
    for (const p of paths) {
      if (!kept.has(p.hashPart) && eff.get(p.hashPart)! < cutoff) removed.add(p.hashPart);
    }
  }
  const files = new Map<string, { size: number; users: number }>();
  for (const p of paths) {
    const f = files.get(p.fileHash);
    if (f) f.users++;
    else files.set(p.fileHash, { size: p.fileSize, users: 1 });
  }
  let bytes = 0;
  for (const f of files.values()) bytes += f.size;
  const bytesBefore = bytes;
  const drop = (h: string) => {
    removed.add(h);
    const f = files.get(byHash.get(h)!.fileHash)!;
    if (--f.users === 0) bytes -= f.size;
  };
  for (const h of removed) {
    const f = files.get(byHash.get(h)!.fileHash)!;
    if (--f.users === 0) bytes -= f.size;
  }
  if (limits.maxBytes !== undefined && bytes > limits.maxBytes) {
    const order = paths.filter((p) => !kept.has(p.hashPart) && !removed.has(p.hashPart))
      .sort((a, b) =>
        eff.get(a.hashPart)! - eff.get(b.hashPart)! || a.hashPart.localeCompare(b.hashPart)
      );
    for (const p of order) {
      if (bytes <= limits.maxBytes) break;
      if (removed.has(p.hashPart)) continue;
      // The path and everything above it; none is protected (else p would be).
      const stack = [p.hashPart];
      while (stack.length) {
        const h = stack.pop()!;
        if (removed.has(h)) continue;
        drop(h);
        for (const r of referrers.get(h) ?? []) if (!removed.has(r)) stack.push(r);
      }
    }
  }
  const remove = referrersFirst(removed, byHash, eff);
  return { remove, bytesBefore, bytesAfter: bytes, protectedPaths: kept.size };
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

/** Closures of the roots and of recent imports. */
function protectedSet(
  paths: GcPath[],
  byHash: Map<string, GcPath>,
  limits: GcLimits,
): Set<string> {
  const kept = new Set<string>();
  const stack = [...limits.roots];
  if (limits.graceMs !== undefined) {
    const since = limits.now - limits.graceMs;
    for (const p of paths) if (p.importedAt >= since) stack.push(p.hashPart);
  }
  while (stack.length) {
    const h = stack.pop()!;
    const p = byHash.get(h);
    if (!p || kept.has(h)) continue;
    kept.add(h);
    for (const r of p.references) if (!kept.has(r)) stack.push(r);
  }
  return kept;
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
