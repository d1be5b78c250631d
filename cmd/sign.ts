/** `arca sign`: adds a signature by one more key to paths already in the cache. */
import type { Command } from "./_command.ts";
import { bool, parseFlags, str } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { readSecretKeyFile } from "../lib/io/key_files.ts";
import { storeMeta } from "../lib/store/store_meta.ts";
import { addSignature, allHashParts, type SignOutcome } from "../lib/store/add_signature.ts";
import { parseStorePath, StorePathError } from "../lib/store_path/mod.ts";
import {
  effectiveConfig,
  STORE_FLAGS,
  STORE_OPTIONS_HELP,
  storeOverrides,
  withStore,
} from "./_context.ts";

export const signCommand: Command = {
  name: "sign",
  help: `Usage: arca sign --key FILE (--all | <store-path>...)

Signs paths already in the cache with the secret key FILE, keeping their
other signatures. To rotate keys: 'arca sign-keygen' a new key, 'arca sign
--key new.secret --all', add the new public key to the clients'
trusted-public-keys, then later drop the old one (and add the new file to
signing_key_paths so new paths get it too). A running 'arca serve' serves
the new signatures as it serves an import made by another
process. Signing a path twice with one key changes nothing.

Options:
  --key FILE                   the secret key file (Nix format, mode 0600)
  --all                        every cached path
${STORE_OPTIONS_HELP}

Exit status: 0 when every named path is cached and signed, 1 otherwise.`,
  async run(argv, globals) {
    const p = parseFlags(argv, {
      key: { type: "string" },
      all: { type: "boolean" },
      ...STORE_FLAGS,
    }, globals);
    const keyPath = str(p, "key");
    if (keyPath === undefined) throw new UsageError("missing --key FILE (see 'arca sign --help')");
    const all = bool(p, "all");
    if (all === (p.positionals.length > 0)) {
      throw new UsageError("give either --all or store paths (see 'arca sign --help')");
    }
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    const targets: string[] = [];
    for (const arg of p.positionals) {
      try {
        targets.push(parseStorePath(arg, config.store_dir).hashPart);
      } catch (e) {
        if (e instanceof StorePathError) throw new UsageError(e.message);
        throw e;
      }
    }
    const key = await readSecretKeyFile(keyPath);
    const counts: Record<SignOutcome, number> = { signed: 0, already: 0, missing: 0 };
    await withStore(config, async (store) => {
      const meta = storeMeta(store);
      const hashParts = all ? await allHashParts(store) : targets;
      for (const [i, h] of hashParts.entries()) {
        const r = await addSignature(store, meta, h, key, config.store_dir);
        counts[r]++;
        if (r === "missing") console.error(`arca: not in the cache: ${p.positionals[i]}`);
      }
    });
    console.log(
      `signed ${counts.signed} path(s) with ${key.name}; ${counts.already} already signed` +
        (counts.missing ? `; ${counts.missing} not cached` : ""),
    );
    return counts.missing ? 1 : 0;
  },
};
