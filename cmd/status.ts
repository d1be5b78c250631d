import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags } from "./_args.ts";
import { formatBytes } from "../lib/cli/duration.ts";
import {
  effectiveConfig,
  STORE_FLAGS,
  STORE_OPTIONS_HELP,
  storeOverrides,
  withStore,
} from "./_context.ts";

export const statusCommand: Command = {
  name: "status",
  summary: "show what the cache holds: paths, bytes, dedup ratio",
  help: `Usage: arca status [--json]

Shows the cache directory, backend, number of paths, NAR bytes (what the paths
amount to uncompressed), file bytes (what Nix downloads), stored bytes (what
the disk holds after dedup and compression), the dedup ratio (file bytes /
stored bytes), the compression ratio (NAR bytes / stored bytes) and the chunk
count.

Options:
  --json                       JSON output (for scripts)
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, { json: { type: "boolean" }, ...STORE_FLAGS }, globals);
    expectPositionals(p, 0, 0, "");
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    const s = await withStore(config, (store) => store.status());
    const dedupRatio = s.storedBytes > 0 ? s.fileBytes / s.storedBytes : 1;
    const totalRatio = s.storedBytes > 0 ? s.narBytes / s.storedBytes : 1;
    if (bool(p, "json")) {
      console.log(JSON.stringify(
        { cacheDir: config.cache_dir, ...s, dedupRatio, totalRatio },
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
    return 0;
  },
};
