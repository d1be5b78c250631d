/**
 * arca: a peer-to-peer Nix binary cache.
 *
 * This file only picks the subcommand and maps errors to exit codes:
 * 0 success, 1 failure, 2 bad usage. Everything else lives in `cmd/` and `lib/`.
 */
import { COMMANDS, findCommand } from "./cmd/mod.ts";
import type { Globals } from "./cmd/_args.ts";
import { UsageError } from "./lib/cli/usage_error.ts";
import { VERSION } from "./lib/version.ts";
import { tuneMalloc } from "./lib/io/malloc_tuning.ts";

const MAIN_HELP = `arca ${VERSION}: a peer-to-peer Nix binary cache

Usage: arca [--cache-dir DIR] [--config FILE] <command> [options] [args]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(16)}${c.summary}`).join("\n")}

Global options (before or after the command):
  --cache-dir DIR   where the cache lives (env ARCA_DIR; default ~/.cache/arca)
  --config FILE     configuration file (env ARCA_CONFIG; default ~/.config/arca/config.toml)
  --cache NAME      work on the [[caches]] entry NAME (its own directory, tokens, keys)
                    instead of the default cache; 'serve' serves every cache at once
  -h, --help        show help; 'arca <command> --help' for a command's options
  --version         print the version

Run 'arca <command> --help' for details.`;

export async function main(argv: string[]): Promise<number> {
  const globals: Globals = {
    cacheDir: Deno.env.get("ARCA_DIR") || undefined,
    configPath: Deno.env.get("ARCA_CONFIG") || undefined,
  };
  // Global flags may come before the command name.
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--cache-dir" || a === "--config" || a === "--cache") {
      const v = argv[i + 1];
      if (v === undefined) throw new UsageError(`option '${a}' needs a value`);
      if (a === "--cache-dir") globals.cacheDir = v;
      else if (a === "--cache") globals.cache = v;
      else globals.configPath = v;
      i++;
    } else if (a.startsWith("--cache-dir=")) globals.cacheDir = a.slice(12);
    else if (a.startsWith("--cache=")) globals.cache = a.slice(8);
    else if (a.startsWith("--config=")) globals.configPath = a.slice(9);
    else if (a === "-h" || a === "--help" || a === "help") {
      const topic = argv[i + 1];
      if (a === "help" && topic !== undefined) {
        const cmd = findCommand(topic);
        if (!cmd) throw new UsageError(`unknown command '${topic}' (see 'arca --help')`);
        console.log((await cmd.load()).help);
        return 0;
      }
      console.log(MAIN_HELP);
      return 0;
    } else if (a === "--version" || a === "-V") {
      console.log(`arca ${VERSION}`);
      return 0;
    } else if (a.startsWith("-")) {
      throw new UsageError(`unknown global option '${a}' (see 'arca --help')`);
    } else break;
  }
  const name = argv[i];
  if (name === undefined) {
    console.log(MAIN_HELP);
    return 2;
  }
  const entry = findCommand(name);
  if (!entry) throw new UsageError(`unknown command '${name}' (see 'arca --help')`);
  const cmd = await entry.load();
  const rest = argv.slice(i + 1);
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(cmd.help);
    return 0;
  }
  return await cmd.run(rest, globals);
}

if (import.meta.main) {
  tuneMalloc();
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`arca: ${e.message}`);
      code = 2;
    } else {
      const err = e as Error;
      console.error(`arca: ${err?.message ?? String(e)}`);
      if (Deno.env.get("ARCA_DEBUG")) console.error(err?.stack);
      code = 1;
    }
  }
  Deno.exit(code);
}
