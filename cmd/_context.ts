/**
 * Wiring shared by the commands that work on a cache: load the effective
 * configuration, open the configured store, load signing keys.
 */
import type { Globals } from "./_args.ts";
import { type Config, configOfCache, unknownStorages } from "../lib/config/mod.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { loadConfig } from "../lib/io/config_file.ts";
import type { SecretKey } from "../lib/sign/mod.ts";
import { openStore } from "../lib/store/open_store.ts";
import type { Store } from "../lib/store/store.ts";
import { defaultCacheStorages, flatFilesFor, storageSetFor } from "./_storages.ts";

export { STORE_FLAGS, STORE_OPTIONS_HELP, storeOverrides } from "./_store_flags.ts";

/**
 * The configuration a command runs with: the default cache's, or with
 * `--cache NAME` that `[[caches]]` entry's (`configOfCache`).
 */
export async function effectiveConfig(
  globals: Globals,
  flags: Partial<Config> = {},
): Promise<Config> {
  const config = (await loadConfig(globals, Deno.env.toObject(), flags)).config;
  return globals.cache === undefined ? config : namedCache(config, globals.cache, flags.db_path);
}

/** The configuration of the `[[caches]]` entry `name`; a usage error when there is none. */
export function namedCache(config: Config, name: string, dbPath?: string): Config {
  const c = config.caches.find((c) => c.name === name);
  if (!c) {
    const known = config.caches.map((c) => `"${c.name}"`).join(", ");
    throw new UsageError(
      `--cache: no [[caches]] table is named ${JSON.stringify(name)} (${
        known ? `the configuration has ${known}` : "the configuration has none"
      })`,
    );
  }
  const unknown = unknownStorages(c.storages, config.storages);
  if (unknown.length) {
    throw new UsageError(
      `[[caches]] "${name}": no [[storages]] table is named ${
        unknown.map((n) => `"${n}"`).join(", ")
      }`,
    );
  }
  return configOfCache(config, c, Deno.env.get("HOME"), dbPath);
}

/** Opens the store `config` names (its backend, database and storages); the caller closes it. */
export async function openConfiguredStore(config: Config): Promise<Store> {
  const storages = config.backend === "filesystem" ? undefined : await storageSetFor(
    config,
    config.cache_dir,
    defaultCacheStorages(config),
    config.storage_strategy,
  );
  const flat = config.backend === "filesystem"
    ? { ...await flatFilesFor(config), storeDir: config.store_dir, priority: config.priority }
    : undefined;
  return await openStore({
    cacheDir: config.cache_dir,
    backend: config.backend,
    dbPath: config.db_path,
    storages,
    flat,
  });
}

/** Opens the store named by `config`, runs `fn`, and closes the store however `fn` ends. */
export async function withStore<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openConfiguredStore(config);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** The secret keys to sign with: `--signing-key` files if given, else the configured ones. */
export async function signingKeys(config: Config, flagPaths: string[]): Promise<SecretKey[]> {
  const paths = flagPaths.length
    ? flagPaths
    : [config.signing_key_path, ...config.signing_key_paths].filter((p) => p !== "");
  const keys: SecretKey[] = [];
  if (paths.length === 0) return keys;
  // Key files need ed25519 (node:crypto): loaded only when there are keys.
  const { readSecretKeyFile } = await import("../lib/io/key_files.ts");
  for (const p of new Set(paths)) keys.push(await readSecretKeyFile(p));
  return keys;
}
