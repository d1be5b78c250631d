/**
 * Writes a configuration as TOML, keys in their documented order, so that
 * `arca config` output can be pasted into `config.toml` as is.
 *
 * @module
 */
import { stringify } from "smol-toml";
import type { Config } from "./config.ts";
import { KEY_NAMES } from "./_keys.ts";

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
  return KEY_NAMES.map((k) => formatKey(k, c[k])).join("\n") + "\n";
}

/** One `key = value` line in TOML syntax. */
export function formatKey(key: string, value: unknown): string {
  return stringify({ [key]: value }).trim();
}
