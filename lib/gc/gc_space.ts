/**
 * The size half of a gc report: what the cache takes on disk before and
 * after (as `du -sb` of the cache directory counts it, `tmp/` aside), what
 * was freed, and when it is over `--max-size`, why, in words a user can act on.
 */
import { formatBytes } from "../cli/duration.ts";
import type { GcPlan } from "./plan_gc.ts";

export interface GcSpace {
  /** `maxBytes`, when given. */
  limit?: number;
  /** Bytes on disk when the run started. */
  before: number;
  /** Bytes on disk when it ended (a dry run: the plan's prediction). */
  after: number;
  /** What the plan predicted for `after`. */
  predicted: number;
  /**
   * Bytes of files deleted, minus the bytes compaction wrote: packs,
   * manifests, NAR files, narinfo files (a dry run: what the plan would
   * free, exactly what a real run on the same cache frees).
   */
  freed: number;
  /** The KV database's files, before and after. */
  kv: { before: number; after: number };
  /** The database was (dry run: would be) VACUUMed to fit. */
  vacuum: boolean;
  /** Plan and sweep rounds run (more than one when the first left the cache over the limit). */
  rounds: number;
  /** `after` is within `limit` (true without a limit). */
  fits: boolean;
  /** Why not, when it does not fit. */
  problem?: string;
}

/** `1.2 MiB (1234567 bytes)`: rounded for reading, exact for checking. */
export function bytesText(n: number): string {
  return n < 1024 ? `${n} bytes` : `${formatBytes(n)} (${n} bytes)`;
}

/**
 * Why the cache is over `limit` after a run: a running import or upload
 * (no file deleted), or what the last plan found it cannot remove.
 */
export function overLimitProblem(
  after: number,
  limit: number,
  graceMs: number,
  plan: GcPlan | undefined,
  leasePid: number | undefined,
  dryRun = false,
): string {
  const head = `the cache ${dryRun ? "would take" : "takes"} ${bytesText(after)}, over the ` +
    `limit of ${bytesText(limit)}`;
  if (leasePid !== undefined) {
    return `${head}: an import or upload is running (pid ${leasePid} holds a lease), so gc ` +
      `${dryRun ? "would delete" : "deleted"} no file; run gc again when it is done`;
  }
  const s = plan?.disk?.shortfall;
  if (!s) {
    return `${head}: gc removed what the plan needed, but the cache did not shrink as ` +
      `predicted (${bytesText(plan?.disk?.after ?? after)}); the KV database and ` +
      `directories may have grown meanwhile, or another process added data`;
  }
  const parts: string[] = [];
  if (s.roots.paths > 0) {
    parts.push(
      `pins and gc roots need ${bytesText(s.roots.bytes)} for ${s.roots.paths} paths ` +
        `('arca pins' lists them)`,
    );
  }
  if (s.recent.paths > 0) {
    parts.push(
      `${s.recent.paths} paths imported in the last ${minutes(graceMs)} (the grace period) ` +
        `take ${bytesText(s.recent.bytes)}`,
    );
  }
  if (s.inProgress > 0) {
    parts.push(
      `uploads awaiting their narinfo and imports in progress (younger than the grace ` +
        `period) take ${bytesText(s.inProgress)}`,
    );
  }
  parts.push(`the KV database, directories and other files take ${bytesText(s.base)}`);
  return `${head}: ${parts.join("; ")}`;
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}
