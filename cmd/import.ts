import type { Command } from "./_command.ts";
import { bool, parseFlags } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { referencesFirst } from "../lib/io/nix_path_info.ts";
import { localPathInfo } from "../lib/io/nix_db.ts";
import { effectiveConfig, signingKeys, withStore } from "./_context.ts";
import { IMPORT_FLAGS, IMPORT_OPTIONS_HELP, importAll, importFlags } from "./_import_flags.ts";
import { startSharedPool } from "../lib/store/compress_pool.ts";

export const importCommand: Command = {
  name: "import",
  help: `Usage: arca import [options] <store-path>...

Reads each path from the local Nix store, checks that its NAR hash equals the
one Nix recorded, stores it deduplicated and compressed, and signs it. Nix's
own metadata (references, deriver, signatures, CA) comes from
'nix path-info --json'; existing signatures are kept.

A narinfo is published only once everything the path references is in the
cache, so a path whose references are missing is refused: import its whole
closure with 'arca import-closure'. Importing a cached path again does nothing.

Options:
${IMPORT_OPTIONS_HELP}

Exit status: 0 when every path is cached afterwards, 1 otherwise.`,
  async run(argv, globals) {
    const p = parseFlags(argv, IMPORT_FLAGS, globals);
    if (p.positionals.length === 0) {
      throw new UsageError("missing store path (see 'arca import --help')");
    }
    const { flags, keyPaths, segments } = importFlags(p);
    // The workers load their codecs while Nix is asked about the paths.
    startSharedPool();
    const config = await effectiveConfig(p.globals, flags);
    const keys = await signingKeys(config, keyPaths);
    const metas = referencesFirst(await localPathInfo(p.positionals, false, config.store_dir));
    const failed = await withStore(
      config,
      (store) => importAll(store, metas, config, keys, bool(p, "json"), segments),
    );
    return failed ? 1 : 0;
  },
};
