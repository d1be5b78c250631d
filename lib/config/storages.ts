/**
 * Where packs can live, and the caches one server serves: `[[storages]]`
 * and `[[caches]]` tables of `config.toml`.
 *
 * ```toml
 * [[storages]]
 * name = "bucket"
 * type = "s3"                          # s3 | local
 * endpoint = "https://s3.example.org"  # s3: the API's URL
 * region = "us-east-1"
 * bucket = "arca"
 * prefix = "main/"                     # "" or ending in "/"
 * access_key_id = ""                   # else ARCA_S3_ACCESS_KEY_ID, AWS_ACCESS_KEY_ID
 * secret_access_key_file = "/run/secrets/s3"   # or secret_access_key; else the environment
 * path_style = true                    # false: https://<bucket>.<host>/
 * max_size = "500G"                    # full above: writes go to the other storages
 * weight = 70                          # its share under storage_strategy = "split"
 *
 * [[storages]]
 * name = "disk2"
 * type = "local"
 * path = "/mnt/disk2/arca"
 *
 * [[caches]]
 * name = "team"                        # served under http://host:5555/team/
 * storages = ["bucket", "disk2"]       # [] : its own directory <cache_dir>/caches/team
 * storage_strategy = "round-robin"     # in-order | round-robin | split | least-used
 * max_age = "30d"                      # retention
 * upload_tokens = ["…"]
 * read_token = ""
 * signing_key_paths = ["~/.config/arca/team-1.secret"]
 * trusted_public_keys = []
 * priority = 40
 * ```
 *
 * @module
 */
import { parseDuration, parseSize } from "../cli/duration.ts";
import { PUBLIC_KEY } from "./segments.ts";

export type StorageType = "s3" | "local";
export type StorageStrategy = "in-order" | "round-robin" | "split" | "least-used";
export const STORAGE_STRATEGIES: StorageStrategy[] = [
  "in-order",
  "round-robin",
  "split",
  "least-used",
];

/** One `[[storages]]` table. Fields a type does not use are "" / defaults. */
export interface StorageConfig {
  name: string;
  type: StorageType;
  /** local: the directory (packs/ and manifests/ go under it). */
  path: string;
  endpoint: string;
  region: string;
  bucket: string;
  prefix: string;
  access_key_id: string;
  /** Prefer `secret_access_key_file` or the environment: the config file is often readable. */
  secret_access_key: string;
  secret_access_key_file: string;
  path_style: boolean;
  /** "" for no limit, else a size such as "500G". */
  max_size: string;
  /** Share under `split`; 1 by default. */
  weight: number;
}

/** One `[[caches]]` table: a cache served under `/<name>/` by the same process. */
export interface CacheConfig {
  name: string;
  /** Names of `[[storages]]`; empty: the cache's own directory. */
  storages: string[];
  storage_strategy: StorageStrategy;
  max_age: string;
  upload_tokens: string[];
  read_token: string;
  signing_key_paths: string[];
  trusted_public_keys: string[];
  priority: number;
}

/** A bad field of a `[[storages]]` or `[[caches]]` table: `index` 0-based, `field` undefined for the table. */
export class TableFieldError extends Error {
  override name = "TableFieldError";
  constructor(
    readonly table: "storages" | "caches",
    readonly index: number,
    readonly field: string | undefined,
    detail: string,
  ) {
    super(
      field === undefined
        ? `${table}[${index}]: ${detail}`
        : `"${table}[${index}].${field}" ${detail}`,
    );
  }
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/**
 * Names a cache may not take: a cache is served under `/<name>/`, and these
 * are first path segments of the server's own routes (`/nar/…`, `/log/…`,
 * `/api/v1/cache/…`, `/gcroots/…`, `/metrics`, `/health`, `/peer/…`) or of
 * files Nix puts in a binary cache (`realisations/`, `build-trace-v2/`,
 * `debuginfo/`, `nix-cache-info`). Names with a dot (`status.json`,
 * `<hash>.narinfo`) are not names at all.
 */
export const RESERVED_CACHE_NAMES: readonly string[] = [
  "nar",
  "log",
  "api",
  "gcroots",
  "metrics",
  "health",
  "peer",
  "realisations",
  "build-trace-v2",
  "debuginfo",
  "nix-cache-info",
];
const RESERVED = new Set(RESERVED_CACHE_NAMES);

const STORAGE_FIELDS: (keyof StorageConfig)[] = [
  "name",
  "type",
  "path",
  "endpoint",
  "region",
  "bucket",
  "prefix",
  "access_key_id",
  "secret_access_key",
  "secret_access_key_file",
  "path_style",
  "max_size",
  "weight",
];
const CACHE_FIELDS: (keyof CacheConfig)[] = [
  "name",
  "storages",
  "storage_strategy",
  "max_age",
  "upload_tokens",
  "read_token",
  "signing_key_paths",
  "trusted_public_keys",
  "priority",
];

/** Reads one table field by field; `fail` names the field. */
function tableReader(table: "storages" | "caches", fields: string[], t: unknown, i: number) {
  if (t === null || typeof t !== "object" || Array.isArray(t) || t instanceof Date) {
    throw new TableFieldError(table, i, undefined, "must be a table");
  }
  const rec = t as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    if (!fields.includes(k)) {
      throw new TableFieldError(
        table,
        i,
        k,
        `is not a field of [[${table}]] (known: ${fields.join(", ")})`,
      );
    }
  }
  const fail = (field: string, detail: string): never => {
    throw new TableFieldError(table, i, field, detail);
  };
  return {
    str(field: string, def: string, ok: (s: string) => boolean = () => true, expect = "a string") {
      const v = rec[field] ?? def;
      return typeof v === "string" && ok(v) ? v : fail(field, `must be ${expect}`);
    },
    bool(field: string, def: boolean) {
      const v = rec[field] ?? def;
      return typeof v === "boolean" ? v : fail(field, "must be true or false");
    },
    int(field: string, def: number, min: number, max: number) {
      const v = rec[field] ?? BigInt(def);
      return typeof v === "bigint" && v >= min && v <= max
        ? Number(v)
        : fail(field, `must be an integer from ${min} to ${max}`);
    },
    strs(field: string, ok: (s: string) => boolean = () => true, expect = "an array of strings") {
      const v = rec[field] ?? [];
      return Array.isArray(v) && v.every((s) => typeof s === "string" && ok(s))
        ? [...v] as string[]
        : fail(field, `must be ${expect}`);
    },
    fail,
  };
}

const validSize = (s: string) => s === "" || ok(() => parseSize(s));
const validAge = (s: string) => s === "" || ok(() => parseDuration(s));
function ok(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

/**
 * Validates `[[storages]]`; throws `TableFieldError`.
 *
 * @example
 * ```ts
 * import { checkStorages } from "./storages.ts";
 * import assert from "node:assert/strict";
 * const [s] = checkStorages([{ name: "b", type: "s3", endpoint: "http://127.0.0.1:7480", bucket: "arca" }]);
 * assert.equal(s.region, "us-east-1");
 * assert.throws(() => checkStorages([{ name: "b", type: "s3" }]), /endpoint/);
 * ```
 */
export function checkStorages(v: unknown): StorageConfig[] {
  if (!Array.isArray(v)) {
    throw new TableFieldError("storages", 0, undefined, "must be an array of [[storages]] tables");
  }
  const names = new Set<string>();
  return v.map((t, i) => {
    const r = tableReader("storages", STORAGE_FIELDS, t, i);
    const name = r.str(
      "name",
      "",
      (s) => NAME.test(s) && s !== "local",
      "1 to 63 lowercase letters, digits, '_' or '-' (not \"local\": that is the cache's own directory)",
    );
    if (names.has(name)) r.fail("name", `repeats storage "${name}"`);
    names.add(name);
    const type = r.str(
      "type",
      "",
      (s) => s === "s3" || s === "local",
      '"s3" or "local"',
    ) as StorageType;
    const out: StorageConfig = {
      name,
      type,
      path: r.str("path", "", (s) => !s.includes("\0"), "a path"),
      endpoint: r.str(
        "endpoint",
        "",
        (s) => s === "" || /^https?:\/\/[^\s/]+(\/\S*)?$/.test(s),
        "an http:// or https:// URL",
      ),
      region: r.str("region", "us-east-1", (s) => /^[a-z0-9-]{1,40}$/.test(s), "a region name"),
      bucket: r.str(
        "bucket",
        "",
        (s) => s === "" || /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(s),
        "an S3 bucket name",
      ),
      prefix: r.str(
        "prefix",
        "",
        (s) => s === "" || /^([A-Za-z0-9._-]+\/)+$/.test(s),
        '"" or a key prefix ending in "/"',
      ),
      access_key_id: r.str("access_key_id", ""),
      secret_access_key: r.str("secret_access_key", ""),
      secret_access_key_file: r.str(
        "secret_access_key_file",
        "",
        (s) => !s.includes("\0"),
        "a path",
      ),
      path_style: r.bool("path_style", true),
      max_size: r.str("max_size", "", validSize, 'a size such as "500G", or ""'),
      weight: r.int("weight", 1, 1, 1_000_000),
    };
    if (type === "local" && out.path === "") r.fail("path", "is needed for a local storage");
    if (type === "s3") {
      if (out.endpoint === "") r.fail("endpoint", "is needed for an s3 storage");
      if (out.bucket === "") r.fail("bucket", "is needed for an s3 storage");
    }
    return out;
  });
}

/**
 * Validates `[[caches]]`; storage names are checked against the storages
 * by `checkCacheStorages` once both are read.
 *
 * @example
 * ```ts
 * import { checkCaches } from "./storages.ts";
 * import assert from "node:assert/strict";
 * const [c] = checkCaches([{ name: "team", max_age: "30d" }]);
 * assert.equal(c.storage_strategy, "in-order");
 * assert.throws(() => checkCaches([{ name: "nar" }]), /name/);
 * ```
 */
export function checkCaches(v: unknown): CacheConfig[] {
  if (!Array.isArray(v)) {
    throw new TableFieldError("caches", 0, undefined, "must be an array of [[caches]] tables");
  }
  const names = new Set<string>();
  return v.map((t, i) => {
    const r = tableReader("caches", CACHE_FIELDS, t, i);
    const name = r.str(
      "name",
      "",
      (s) => NAME.test(s),
      "1 to 63 lowercase letters, digits, '_' or '-' (the cache is served under /<name>/)",
    );
    if (RESERVED.has(name)) {
      r.fail(
        "name",
        `cannot be "${name}": /${name}/ is a route of Arca's own server; pick another name ` +
          `(reserved: ${RESERVED_CACHE_NAMES.join(", ")})`,
      );
    }
    if (names.has(name)) r.fail("name", `repeats cache "${name}"`);
    names.add(name);
    const storages = r.strs("storages", (s) => NAME.test(s), "an array of storage names");
    if (new Set(storages).size !== storages.length) r.fail("storages", "names a storage twice");
    return {
      name,
      storages,
      storage_strategy: r.str(
        "storage_strategy",
        "in-order",
        (s) => (STORAGE_STRATEGIES as string[]).includes(s),
        `one of ${STORAGE_STRATEGIES.join(", ")}`,
      ) as StorageStrategy,
      max_age: r.str("max_age", "", validAge, 'a duration such as "30d", or ""'),
      upload_tokens: r.strs("upload_tokens", (s) => s.length >= 1),
      read_token: r.str("read_token", ""),
      signing_key_paths: r.strs(
        "signing_key_paths",
        (s) => s !== "" && !s.includes("\0"),
        "an array of paths",
      ),
      trusted_public_keys: r.strs(
        "trusted_public_keys",
        (s) => PUBLIC_KEY.test(s),
        'an array of public keys "name:base64"',
      ),
      priority: r.int("priority", 40, 0, 1000),
    };
  });
}

/** The storage names a cache (or the default cache) lists that no `[[storages]]` defines. */
export function unknownStorages(names: string[], storages: StorageConfig[]): string[] {
  const known = new Set(["local", ...storages.map((s) => s.name)]);
  return names.filter((n) => !known.has(n));
}
