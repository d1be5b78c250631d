import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags, str } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { formatBytes, parseDuration, parseSize } from "../lib/cli/duration.ts";
import { DEFAULT_GRACE_MS, type GcReport } from "../lib/gc/mod.ts";
import {
  effectiveConfig,
  STORE_FLAGS,
  STORE_OPTIONS_HELP,
  storeOverrides,
  withStore,
} from "./_context.ts";
import { gcRunner } from "./_gc_store.ts";

export const gcCommand: Command = {
  name: "gc",
  summary: "remove old or least-recently-used paths and free their space",
  help: `Usage: arca gc [--max-age DUR] [--max-size SIZE] [--dry-run] [--json]

Removes cached paths, never breaking a closure: when a path goes, every path
that references it goes too, and the closures of pinned paths and gc roots
('arca pin', 'arca pins') always stay. Then frees the space nothing uses any
more: NAR files, chunks and packs (packs that are mostly unused are compacted).
With the filesystem backend, <hash>.narinfo files go first, then the files
under nar/ that no narinfo names.

  --max-age DUR    remove paths imported longer than DUR ago and not downloaded
                   since (e.g. 30d, 7d, 24h, 1h30m)
  --max-size SIZE  then remove least-recently-used paths until the NAR files of
                   the paths left fit in SIZE (e.g. 10G, 500M, 1T, 100K)
Without either, the configured max_age / max_size apply; with neither
configured, only unused space is freed.

Options:
  --dry-run        print what would be removed (paths, bytes) and change nothing
  --grace DUR      keep work younger than this: recent imports, uploads awaiting
                   their narinfo, new packs (default 15m)
  --json           print the report as JSON
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, {
      "max-age": { type: "string" },
      "max-size": { type: "string" },
      "dry-run": { type: "boolean" },
      grace: { type: "string" },
      json: { type: "boolean" },
      ...STORE_FLAGS,
    }, globals);
    expectPositionals(p, 0, 0, "");
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    const ageText = str(p, "max-age") ?? (config.max_age || undefined);
    const sizeText = str(p, "max-size") ?? (config.max_size || undefined);
    const maxAgeMs = ageText === undefined ? undefined : flag("--max-age", parseDuration, ageText);
    const maxBytes = sizeText === undefined ? undefined : flag("--max-size", parseSize, sizeText);
    const grace = str(p, "grace");
    const graceMs = grace === undefined ? DEFAULT_GRACE_MS : flag("--grace", parseDuration, grace);
    const dryRun = bool(p, "dry-run");
    const report = await withStore(
      config,
      (store) => gcRunner(store)({ maxAgeMs, maxBytes, graceMs, dryRun }),
    );
    if (bool(p, "json")) console.log(JSON.stringify(report, null, 2));
    else printReport(report, dryRun);
    return 0;
  },
};

function flag(name: string, parse: (s: string) => number, text: string): number {
  try {
    return parse(text);
  } catch (e) {
    throw new UsageError(`${name}: ${(e as Error).message}`);
  }
}

function printReport(r: GcReport, dryRun: boolean): void {
  const files = formatBytes(r.plan.bytesBefore - r.plan.bytesAfter);
  for (const e of r.paths) {
    console.log(
      `${dryRun ? "would remove" : "removed"} ${e.storePath} (${formatBytes(e.fileSize)})`,
    );
  }
  if (dryRun) {
    console.log(
      `gc plan: ${r.paths.length} paths, ${files} of NAR files` +
        ` (${formatBytes(r.plan.bytesBefore)} -> ${formatBytes(r.plan.bytesAfter)});` +
        ` ${r.plan.protectedPaths} paths kept by roots, pins or the grace period`,
    );
    return;
  }
  const s = r.sweep!;
  console.log(
    `gc: removed ${r.paths.length} paths; stored bytes ${formatBytes(r.before.storedBytes)} -> ` +
      `${formatBytes(r.after.storedBytes)} (freed ${
        formatBytes(Math.max(0, r.before.storedBytes - r.after.storedBytes))
      }); ${s.packsDeleted} packs deleted, ${s.packsCompacted} compacted, ` +
      `${s.packsDoomed} waiting for the grace period; ${s.narFiles} NAR files, ` +
      `${s.manifests} manifests, ${s.chunkEntries} chunk entries removed`,
  );
}
