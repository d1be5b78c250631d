/** `arca pin`, `arca unpin` and `arca pins`: gc roots kept by hand. */
import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags, str } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { parseDuration } from "../lib/cli/duration.ts";
import { listRoots, pinName, putRoot, removeRoot } from "../lib/gc/mod.ts";
import { parseStorePath } from "../lib/store_path/mod.ts";
import {
  effectiveConfig,
  STORE_FLAGS,
  STORE_OPTIONS_HELP,
  storeOverrides,
  withStore,
} from "./_context.ts";
import { storeMeta } from "../lib/store/store_meta.ts";

export const pinCommand: Command = {
  name: "pin",
  help: `Usage: arca pin [--expires DUR] <store-path>...

Pins each store path: gc never removes it or anything it references. A path
need not be cached yet. Pinning again replaces the expiry.

Options:
  --expires DUR   the pin ends after DUR (e.g. 7d, 24h); default: never
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, { expires: { type: "string" }, ...STORE_FLAGS }, globals);
    expectPositionals(p, 1, Infinity, "store path to pin");
    const exp = str(p, "expires");
    let expiresAt: number | undefined;
    if (exp !== undefined) {
      try {
        expiresAt = Date.now() + parseDuration(exp);
      } catch (e) {
        throw new UsageError(`--expires: ${(e as Error).message}`);
      }
    }
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    const paths = p.positionals.map((s) => checkPath(s, config.store_dir));
    await withStore(config, async (store) => {
      const meta = storeMeta(store);
      for (const s of paths) {
        await putRoot(meta, pinName(s), [s], expiresAt, config.store_dir);
        console.log(`pinned ${s}`);
      }
    });
    return 0;
  },
};

export const unpinCommand: Command = {
  name: "unpin",
  help: `Usage: arca unpin <store-path | root-name>...

Removes the pin of each store path, or the gc root with that name (as listed
by 'arca pins'). The paths stay cached until a gc removes them.

Options:
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, STORE_FLAGS, globals);
    expectPositionals(p, 1, Infinity, "store path or root name to unpin");
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    let missing = 0;
    await withStore(config, async (store) => {
      const meta = storeMeta(store);
      for (const s of p.positionals) {
        const name = s.startsWith("/") ? pinName(checkPath(s, config.store_dir)) : s;
        if (await removeRoot(meta, name)) console.log(`unpinned ${s}`);
        else (missing++, console.error(`arca: ${s} is not pinned`));
      }
    });
    return missing ? 1 : 0;
  },
};

export const pinsCommand: Command = {
  name: "pins",
  help: `Usage: arca pins [--json]

Lists the gc roots: pins made with 'arca pin' and roots pushed over HTTP, with
their store paths and expiry.

Options:
  --json          JSON output
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, { json: { type: "boolean" }, ...STORE_FLAGS }, globals);
    expectPositionals(p, 0, 0, "");
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    const roots = await withStore(config, (store) => listRoots(storeMeta(store)));
    if (bool(p, "json")) {
      console.log(JSON.stringify(roots, null, 2));
      return 0;
    }
    const now = Date.now();
    for (const r of roots) {
      const exp = r.expiresAt === undefined
        ? ""
        : r.expiresAt <= now
        ? " (expired)"
        : ` (until ${new Date(r.expiresAt).toISOString()})`;
      console.log(`${r.name}${exp}`);
      for (const s of r.paths) console.log(`  ${s}`);
    }
    return 0;
  },
};

function checkPath(s: string, storeDir: string): string {
  try {
    parseStorePath(s, storeDir);
    return s;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
