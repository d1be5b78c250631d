import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags, str } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { parseDuration } from "../lib/cli/duration.ts";
import {
  effectiveConfig,
  STORE_FLAGS,
  STORE_OPTIONS_HELP,
  storeOverrides,
  withStore,
} from "./_context.ts";

export const auditCommand: Command = {
  name: "audit",
  help: `Usage: arca audit [--since DUR] [--json]

Prints audit events oldest first: Import (a path entered the cache), Serve (a
NAR was downloaded; recorded in batches), Quarantine (a damaged entry was
taken out of service).

Options:
  --since DUR   only events newer than DUR ago, e.g. 30m, 24h, 7d (default: all)
  --json        one JSON object per line
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, {
      since: { type: "string" },
      json: { type: "boolean" },
      ...STORE_FLAGS,
    }, globals);
    expectPositionals(p, 0, 0, "");
    const since = str(p, "since");
    let from = 0;
    if (since !== undefined) {
      try {
        from = Date.now() - parseDuration(since);
      } catch (e) {
        throw new UsageError(`--since: ${(e as Error).message}`);
      }
    }
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    await withStore(config, async (store) => {
      for await (const ev of store.auditLog(from)) {
        if (bool(p, "json")) {
          console.log(JSON.stringify(ev));
          continue;
        }
        const { type, time, ...rest } = ev;
        const fields = Object.entries(rest).map(([k, v]) =>
          `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`
        );
        console.log(`${new Date(time).toISOString()} ${type.padEnd(10)} ${fields.join(" ")}`);
      }
    });
    return 0;
  },
};
