import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags } from "./_args.ts";
import { formatBytes } from "../lib/cli/duration.ts";
import { swarmReport } from "./_swarm_report.ts";
import {
  effectiveConfig,
  STORE_FLAGS,
  STORE_OPTIONS_HELP,
  storeOverrides,
  withStore,
} from "./_context.ts";

export const statusCommand: Command = {
  name: "status",
  help: `Usage: arca status [--json]

Shows the cache directory, backend, number of paths, NAR bytes (what the paths
amount to uncompressed), file bytes (what Nix downloads), stored bytes (what
the disk holds after dedup and compression), the dedup ratio (file bytes /
stored bytes), the compression ratio (NAR bytes / stored bytes) and the chunk
count. Then, per swarm segment: the local paths it shares (and those it would
share but that lack a signature by a key it trusts), the paths known from its
peers, and its peers when 'arca swarm' runs on this cache.

Options:
  --json                       JSON output (for scripts)
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, { json: { type: "boolean" }, ...STORE_FLAGS }, globals);
    expectPositionals(p, 0, 0, "");
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    const [s, sw] = await withStore(
      config,
      async (store) => [await store.status(), await swarmReport(config, store)] as const,
    );
    const dedupRatio = s.storedBytes > 0 ? s.fileBytes / s.storedBytes : 1;
    const totalRatio = s.storedBytes > 0 ? s.narBytes / s.storedBytes : 1;
    if (bool(p, "json")) {
      console.log(JSON.stringify(
        {
          cacheDir: config.cache_dir,
          ...s,
          dedupRatio,
          totalRatio,
          segments: sw?.segments.map((x) => ({
            ...x,
            peers: sw.swarm?.peers.filter((p) => p.segments.includes(x.name)).length ?? 0,
          })) ?? [],
          swarm: sw?.swarm ?? null,
        },
        null,
        2,
      ));
      return 0;
    }
    console.log(`cache dir:     ${config.cache_dir}`);
    console.log(`backend:       ${s.backend}`);
    console.log(`paths:         ${s.paths}`);
    console.log(`NAR bytes:     ${formatBytes(s.narBytes)} (${s.narBytes})`);
    console.log(`file bytes:    ${formatBytes(s.fileBytes)} (what clients download)`);
    console.log(`stored bytes:  ${formatBytes(s.storedBytes)} (on disk after dedup)`);
    console.log(`dedup ratio:   ${dedupRatio.toFixed(2)}x   NAR/stored: ${totalRatio.toFixed(2)}x`);
    console.log(`chunks:        ${s.chunks}`);
    if (!sw) return 0;
    const peers = sw.swarm?.peers ?? [];
    console.log(
      sw.swarm
        ? `swarm:         running (pid ${sw.swarm.pid}, node ${
          sw.swarm.key.slice(0, 16)
        }), ${peers.length} peer(s)`
        : "swarm:         not running",
    );
    for (const g of sw.segments) {
      const n = peers.filter((p) => p.segments.includes(g.name)).length;
      console.log(
        `segment ${g.name} (${g.filter}): ${g.localPaths} local paths, ${
          formatBytes(g.localNarBytes)
        }; ${g.peerPaths} from peers, ${formatBytes(g.peerNarBytes)}; ${n} peer(s)` +
          (g.unsigned ? `; ${g.unsigned} not shared (no trusted signature)` : ""),
      );
    }
    for (const p of peers) {
      console.log(
        `peer ${p.key.slice(0, 16)} at ${p.address}: ${p.segments.join(", ")}; ${
          formatBytes(p.bytesIn)
        } in, ${formatBytes(p.bytesOut)} out; ${p.recordsIn} records in, ${p.rejected} refused`,
      );
    }
    return 0;
  },
};
