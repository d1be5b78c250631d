/**
 * Writes a configuration as TOML, keys in their documented order, so that
 * `arca config` output can be pasted into `config.toml` as is.
 *
 * @module
 */
import { stringify } from "smol-toml";
import type { Config } from "./config.ts";
import { KEY_NAMES, KEYS } from "./_keys.ts";

/**
 * @example
 * ```ts
 * import { formatConfig } from "./format_config.ts";
 * import { DEFAULTS } from "./defaults.ts";
 * import assert from "node:assert/strict";
 * assert.match(formatConfig(DEFAULTS), /^priority = 40$/m);
 * ```
 */
export function formatConfig(c: Config): string {
  // Tables ([[storages]], …) go last: a key after one would read as its field.
  const tables = (k: keyof Config) =>
    Array.isArray(c[k]) && KEYS[k].kind === "tables" &&
    (c[k] as unknown[]).length > 0;
  const keys = [...KEY_NAMES.filter((k) => !tables(k)), ...KEY_NAMES.filter(tables)];
  return keys.map((k) => formatKey(k, k === "storages" ? hideSecrets(c.storages) : c[k]))
    .join("\n") + "\n";
}

/** S3 secrets are never printed, not even by `arca config`: only whether one is set. */
export function hideSecrets(storages: Config["storages"]): Config["storages"] {
  return storages.map((s) =>
    s.secret_access_key === "" ? s : { ...s, secret_access_key: "(set, not shown)" }
  );
}

/** One `key = value` line in TOML syntax. */
export function formatKey(key: string, value: unknown): string {
  return stringify({ [key]: value }).trim();
}
