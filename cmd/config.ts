/**
 * `arca config`: prints the effective configuration (defaults, then the
 * file, then `ARCA_*` variables, then flags) as TOML or JSON, or the
 * commented template.
 */
import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags } from "./_args.ts";
import { configTemplate, ENV_VARS, formatConfig, hideSecrets } from "../lib/config/mod.ts";
import { loadConfig } from "../lib/io/config_file.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { namedCache } from "./_context.ts";

const ENV_HELP = Object.entries(ENV_VARS)
  .map(([name, key]) => `  ${name.padEnd(18)}${key}`)
  .join("\n");

export const configCommand: Command = {
  name: "config",
  help: `Usage: arca config [--json | --template]

Prints the configuration Arca runs with: the built-in defaults, overridden by
the configuration file, then by environment variables, then by command-line
flags. The TOML output starts with a comment naming the file; with --json the
file is named on stderr. On first run the default file
(~/.config/arca/config.toml, or under $XDG_CONFIG_HOME) is created with a
commented template; a file named by --config or ARCA_CONFIG must exist.
Paths are shown with ~ expanded and db_path filled in. With --cache NAME it
is that cache's: its own directory, storages (scoped to caches/NAME), tokens,
keys, priority and max_age, the rest from the top level.

Options:
  --json            print JSON instead of TOML
  --template        print the commented template with every key and its default
                    (reads no file)
  --cache-dir DIR   override cache_dir (env ARCA_DIR)
  --config FILE     read FILE instead of the default (env ARCA_CONFIG)
  --cache NAME      the configuration the [[caches]] entry NAME runs with

Environment variables (empty means unset):
${ENV_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, {
      json: { type: "boolean" },
      template: { type: "boolean" },
    }, globals);
    expectPositionals(p, 0, 0, "");
    if (bool(p, "json") && bool(p, "template")) {
      throw new UsageError("--json and --template cannot be combined");
    }
    if (bool(p, "template")) {
      console.log(configTemplate().trimEnd());
      return 0;
    }
    const loaded = await loadConfig(p.globals, Deno.env.toObject());
    const { path } = loaded;
    const config = p.globals.cache === undefined
      ? loaded.config
      : namedCache(loaded.config, p.globals.cache);
    if (bool(p, "json")) {
      console.error(`arca: configuration file: ${path}`);
      console.log(JSON.stringify({ ...config, storages: hideSecrets(config.storages) }, null, 2));
    } else {
      console.log(`# configuration file: ${path} (overridden by environment and flags)`);
      console.log(formatConfig(config).trimEnd());
    }
    return 0;
  },
};
