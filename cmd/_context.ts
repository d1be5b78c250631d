/**
 * Wiring shared by the commands that work on a cache: load the effective
 * configuration, open the configured store, load signing keys.
 */
import { type FlagSpec, type Globals, type Parsed, str } from "./_args.ts";
import { checkValue, type Config, configOfCache, unknownStorages } from "../lib/config/mod.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { loadConfig } from "../lib/io/config_file.ts";
import { readSecretKeyFile } from "../lib/io/key_files.ts";
import type { SecretKey } from "../lib/sign/mod.ts";
import { openStore } from "../lib/store/open_store.ts";
import type { Store } from "../lib/store/store.ts";
import { defaultCacheStorages, storageSetFor } from "./_storages.ts";

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

/** Refuses `--cache` for commands that always work on every cache (serve, swarm). */
export function noCacheFlag(globals: Globals, command: string): void {
  if (globals.cache !== undefined) {
    throw new UsageError(
      `${command} serves the default cache and every [[caches]] entry at once: --cache is for ` +
        "the commands that work on one cache (import, status, list, gc, …)",
    );
  }
}

/** Opens the store `config` names (its backend, database and storages); the caller closes it. */
export async function openConfiguredStore(config: Config): Promise<Store> {
  const storages = config.backend === "filesystem" ? undefined : await storageSetFor(
    config,
    config.cache_dir,
    defaultCacheStorages(config),
    config.storage_strategy,
  );
  return await openStore({
    cacheDir: config.cache_dir,
    backend: config.backend,
    dbPath: config.db_path,
    storages,
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
  for (const p of new Set(paths)) keys.push(await readSecretKeyFile(p));
  return keys;
}

/** Flags every command that opens the cache understands. */
export const STORE_FLAGS: FlagSpec = {
  backend: { type: "string" },
  "db-path": { type: "string" },
};

export const STORE_OPTIONS_HELP =
  `  --backend kv|filesystem      metadata backend (default: config 'backend', kv)
  --db-path FILE               Deno KV database (default: <cache-dir>/db)`;

/** Turns `--backend` / `--db-path` into config overrides, checked like config values. */
export function storeOverrides(p: Parsed): Partial<Config> {
  const out: Partial<Config> = {};
  const backend = str(p, "backend");
  const db = str(p, "db-path");
  try {
    if (backend !== undefined) out.backend = checkValue("backend", backend, "--backend");
    if (db !== undefined) out.db_path = checkValue("db_path", db, "--db-path");
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^config error: /, ""));
  }
  return out;
}
