/**
 * Turns the configured paths into the ones to use: `~` and `~/…` become the
 * home directory, and an empty `db_path` becomes `<cache_dir>/db`. Pure:
 * the caller passes `HOME`.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import { KEY_NAMES, KEYS } from "./_keys.ts";

/**
 * Expands a leading `~` in one path; `where` names it in the error raised
 * when HOME is unset.
 */
export function expandHome(p: string, home: string | undefined, where: string): string {
  if (p !== "~" && !p.startsWith("~/")) return p;
  if (!home) {
    throw new ConfigError(where, `cannot expand "~" in ${JSON.stringify(p)}: HOME is not set`);
  }
  return home.replace(/\/+$/, "") + p.slice(1);
}

/**
 * @example
 * ```ts
 * import { expandPaths } from "./expand_paths.ts";
 * import { DEFAULTS } from "./defaults.ts";
 * import assert from "node:assert/strict";
 * const c = expandPaths({ ...DEFAULTS }, "/home/me");
 * assert.equal(c.cache_dir, "/home/me/.cache/arca");
 * assert.equal(c.db_path, "/home/me/.cache/arca/db");
 * ```
 */
export function expandPaths(c: Config, home: string | undefined): Config {
  const out = { ...c } as Record<keyof Config, unknown>;
  const expand = (key: string, p: string) => expandHome(p, home, key);
  for (const key of KEY_NAMES) {
    if (!KEYS[key].path) continue;
    const v = out[key];
    if (typeof v === "string") out[key] = expand(key, v);
    else if (Array.isArray(v)) out[key] = v.map((p) => expand(key, p));
  }
  const done = out as unknown as Config;
  if (done.db_path === "") done.db_path = `${done.cache_dir.replace(/\/+$/, "")}/db`;
  return done;
}
