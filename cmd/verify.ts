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
import { verifyOf } from "./_gc_store.ts";

export const verifyCommand: Command = {
  name: "verify",
  help: `Usage: arca verify [--repair] [--json]

Reads back everything the cache serves: every chunk is decompressed and
hashed against its id, every NAR against its path's NarHash, and every path's
references must be cached. Exits 1 when something is wrong. With the
filesystem backend each NAR file is hashed as stored (FileHash) and
decompressed (NarHash).

Options:
  --repair   take broken entries out of service, with every path that
             references them (a Quarantine event each; 'arca audit' shows them)
  --json     print the report as JSON
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, {
      repair: { type: "boolean" },
      json: { type: "boolean" },
      ...STORE_FLAGS,
    }, globals);
    expectPositionals(p, 0, 0, "");
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    const repair = bool(p, "repair");
    const r = await withStore(config, (store) =>
      verifyOf(store, {
        repair,
        quarantine: (fh, why) => store.quarantine(fh, why),
      }));
    if (bool(p, "json")) console.log(JSON.stringify(r, null, 2));
    else {
      for (const pr of r.problems) console.log(`problem: ${pr.subject}: ${pr.message}`);
      for (const s of r.removed) console.log(`taken out of service: ${s}`);
      console.log(
        `verify: ${r.paths} paths, ${r.narFiles} NAR files, ${r.chunks} chunks, ` +
          `${formatBytes(r.narBytes)} of NAR re-hashed: ` +
          (r.problems.length
            ? `${r.problems.length} problem${r.problems.length === 1 ? "" : "s"}`
            : "all intact") +
          (repair && r.problems.length ? `, ${r.removed.length} paths taken out of service` : ""),
      );
    }
    return r.problems.length && !repair ? 1 : 0;
  },
};
