/**
 * The configuration a `[[caches]]` entry runs with, as a whole `Config`, so
 * that everything written for one cache (opening its store, serving it, gc,
 * status, import) works on it unchanged. Pure: the caller passes `HOME`.
 *
 * | key | value for cache `team` |
 * |---|---|
 * | `cache_dir` | `<cache_dir>/caches/team` (its own KV database, packs, manifests, logs, tmp) |
 * | `db_path` | `<that>/db` |
 * | `cache_storages`, `storage_strategy` | its `storages` (empty: its own directory), `storage_strategy` |
 * | `storages` | every `[[storages]]` table, scoped to the cache: `<path>/caches/team`, `<prefix>caches/team/` |
 * | `priority`, `max_age` | its own |
 * | `upload_tokens`, `read_token`, `trusted_public_keys` | its own; no token file, no `ARCA_*` token |
 * | `signing_key_paths` | its own (`~` expanded); no `signing_key_path` |
 * | `max_size` | none: `max_size` bounds the default cache |
 * | `caches` | none |
 * | everything else | the top level's (compression, store_dir, gc_interval, sign_uploads, max_upload_size, metrics_token, …) |
 *
 * Scoping the storages keeps each cache's objects apart: gc deletes what its
 * own database does not name under `packs/` and `manifests/`, so two caches
 * writing one prefix would collect each other's packs.
 *
 * @module
 */
import type { Config } from "./config.ts";
import type { CacheConfig, StorageConfig } from "./storages.ts";
import { expandHome } from "./expand_paths.ts";

/** Where a cache's own directory is, under the default cache's. */
export function cacheDirOf(topCacheDir: string, name: string): string {
  return `${topCacheDir.replace(/\/+$/, "")}/caches/${name}`;
}

/**
 * @example
 * ```ts
 * import { configOfCache } from "./cache_config.ts";
 * import { checkCaches } from "./storages.ts";
 * import { DEFAULTS } from "./defaults.ts";
 * import assert from "node:assert/strict";
 * const [team] = checkCaches([{ name: "team", max_age: "30d", upload_tokens: ["t"] }]);
 * const c = configOfCache({ ...DEFAULTS, cache_dir: "/var/lib/arca", upload_tokens: ["x"] }, team, "/home/me");
 * assert.equal(c.cache_dir, "/var/lib/arca/caches/team");
 * assert.equal(c.db_path, "/var/lib/arca/caches/team/db");
 * assert.deepEqual(c.upload_tokens, ["t"]);
 * assert.deepEqual(c.cache_storages, ["local"]);
 * assert.equal(c.max_age, "30d");
 * ```
 */
export function configOfCache(
  top: Config,
  cache: CacheConfig,
  home: string | undefined,
  dbPath?: string,
): Config {
  const dir = cacheDirOf(top.cache_dir, cache.name);
  const where = `caches.${cache.name}.signing_key_paths`;
  return {
    ...top,
    cache_dir: dir,
    db_path: dbPath || `${dir}/db`,
    priority: cache.priority,
    signing_key_path: "",
    signing_key_paths: cache.signing_key_paths.map((p) => expandHome(p, home, where)),
    max_size: "",
    max_age: cache.max_age,
    upload_tokens: [...cache.upload_tokens],
    upload_tokens_file: "",
    read_token: cache.read_token,
    trusted_public_keys: [...cache.trusted_public_keys],
    // "local" is the cache's own directory; an empty list would mean every storage.
    cache_storages: cache.storages.length ? [...cache.storages] : ["local"],
    storage_strategy: cache.storage_strategy,
    storages: top.storages.map((s) => scoped(s, cache.name)),
    caches: [],
  };
}

function scoped(s: StorageConfig, name: string): StorageConfig {
  return s.type === "local"
    ? { ...s, path: `${s.path.replace(/\/+$/, "")}/caches/${name}` }
    : { ...s, prefix: `${s.prefix}caches/${name}/` };
}
