import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags } from "./_args.ts";
import { referencesFirst } from "../lib/io/nix_path_info.ts";
import { localPathInfo } from "../lib/io/nix_db.ts";
import { nixBuildOutputs } from "../lib/io/nix_build.ts";
import { effectiveConfig, signingKeys, withStore } from "./_context.ts";
import { IMPORT_FLAGS, IMPORT_OPTIONS_HELP, importAll, importFlags } from "./_import_flags.ts";
import { startSharedPool } from "../lib/store/compress_pool.ts";

export const importClosureCommand: Command = {
  name: "import-closure",
  help: `Usage: arca import-closure [options] <store-path | flake-ref>

Resolves the closure ('nix path-info -r') and imports it references first, so
every narinfo is published after the paths it references. A flake reference
(e.g. '.#hello' or 'nixpkgs#hello') is built first with 'nix build'. Shows a
progress bar (paths, bytes, rate, ETA) on a terminal and a summary line
otherwise. Paths already cached are skipped.

Options:
${IMPORT_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, IMPORT_FLAGS, globals);
    expectPositionals(p, 1, 1, "store path or flake reference (see 'arca import-closure --help')");
    const { flags, keyPaths, segments } = importFlags(p);
    // The workers load their codecs while Nix is asked about the closure.
    startSharedPool();
    const config = await effectiveConfig(p.globals, flags);
    const keys = await signingKeys(config, keyPaths);
    const target = p.positionals[0];
    const roots = isFlakeRef(target) ? await nixBuildOutputs(target) : [target];
    const metas = referencesFirst(await localPathInfo(roots, true, config.store_dir));
    const failed = await withStore(
      config,
      (store) => importAll(store, metas, config, keys, bool(p, "json"), segments),
    );
    return failed ? 1 : 0;
  },
};

/** A flake reference has a `#` fragment or a scheme (`github:`, `path:`); a store path has neither. */
function isFlakeRef(s: string): boolean {
  return s.includes("#") || /^[a-z][a-z0-9+]*:/.test(s);
}
