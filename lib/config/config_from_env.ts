/**
 * Reads the documented `ARCA_*` environment variables into a partial
 * configuration. An empty variable counts as unset, as in most shells'
 * `${VAR:-default}` idiom. Values are checked with the same rules as the
 * file; errors name the variable.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { checkText } from "./check_value.ts";
import { KEY_NAMES, KEYS } from "./_keys.ts";

/** The variables read, and the key each sets: `ARCA_DIR` → `cache_dir`, … */
export const ENV_VARS: Readonly<Record<string, keyof Config>> = Object.freeze(
  Object.fromEntries(
    KEY_NAMES.flatMap((k) => KEYS[k].env === undefined ? [] : [[KEYS[k].env, k]]),
  ),
);

/**
 * @example
 * ```ts
 * import { configFromEnv } from "./config_from_env.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(configFromEnv({ ARCA_PRIORITY: "7", ARCA_DIR: "/srv/arca", HOME: "/root" }), {
 *   priority: 7,
 *   cache_dir: "/srv/arca",
 * });
 * ```
 */
export function configFromEnv(env: Record<string, string | undefined>): Partial<Config> {
  const out: Partial<Record<keyof Config, unknown>> = {};
  for (const [name, key] of Object.entries(ENV_VARS)) {
    const text = env[name];
    if (text === undefined || text === "") continue;
    out[key] = checkText(key, text, `environment variable ${name}`);
  }
  return out as Partial<Config>;
}
