import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags, str } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { formatBytes, parseDuration, parseSize } from "../lib/cli/duration.ts";
import { bytesText, DEFAULT_GRACE_MS, type GcReport } from "../lib/gc/mod.ts";
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
  help: `Usage: arca gc [--max-age DUR] [--max-size SIZE] [--dry-run] [--json]

Removes cached paths, never breaking a closure: when a path goes, every path
that references it goes too, and the closures of pinned paths and gc roots
('arca pin', 'arca pins') always stay. Then frees the space nothing uses any
more: NAR files, chunks and packs (packs that are mostly unused are compacted),
and the listings (<hash>.ls) and build logs that went with removed paths (a log
goes with the last cached path its derivation built; a log of a derivation no
cached path names goes only once older than --max-age).
With the filesystem backend, <hash>.narinfo files go first, then the files
under nar/ that no narinfo names.

  --max-age DUR    remove paths imported longer than DUR ago and not downloaded
                   since (e.g. 30d, 7d, 24h, 1h30m)
  --max-size SIZE  then remove least-recently-used paths until the cache
                   directory fits in SIZE on disk (e.g. 10G, 500M, 1T, 100K):
                   what 'du -sb' of it counts (packs, manifests, NAR files,
                   narinfos, the KV database with its WAL, logs...), without
                   the work in progress under tmp/. Dead chunks inside packs
                   still in use count until gc compacts those packs, which it
                   does as far as needed to fit; the database is VACUUMed when
                   its free pages are what stands in the way.
Without either, the configured max_age / max_size apply; with neither
configured, only unused space is freed. When the cache cannot fit (pins and
gc roots need more, uploads awaiting their narinfo, a running import holds a
lease), gc removes what it may, says why and exits 1.

Options:
  --dry-run        print what would be removed (paths, bytes freed on disk, size
                   after) and change nothing
  --grace DUR      keep work younger than this: uploads awaiting their narinfo,
                   new packs, and recent imports unless --max-size needs them
                   (default 15m)
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
    if (report.space.fits) return 0;
    console.error(`arca: gc: ${report.space.problem}`);
    return 1;
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
  const sp = r.space;
  const limit = sp.limit === undefined ? "" : `, limit ${bytesText(sp.limit)}`;
  if (dryRun) {
    console.log(
      `gc plan: ${r.paths.length} paths, ${files} of NAR files` +
        ` (${formatBytes(r.plan.bytesBefore)} -> ${formatBytes(r.plan.bytesAfter)});` +
        ` ${r.plan.protectedPaths} paths kept by roots, pins or the grace period`,
    );
    console.log(
      `gc plan: would free ${bytesText(sp.freed)} on disk${
        sp.vacuum ? " and VACUUM the database" : ""
      };` +
        ` cache ${bytesText(sp.before)} -> ${bytesText(sp.after)}${limit}`,
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
      `${s.manifests} manifests, ${s.chunkEntries} chunk entries, ${s.sideFiles} build logs ` +
      `and listings removed`,
  );
  console.log(
    `gc: freed ${bytesText(sp.freed)} on disk${sp.vacuum ? ", VACUUMed the database" : ""};` +
      ` cache ${bytesText(sp.before)} -> ${bytesText(sp.after)}${limit}`,
  );
}
