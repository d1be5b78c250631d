/**
 * Layers partial configurations over the defaults:
 * DEFAULTS < file < environment < flags. A key set to `undefined` in a
 * layer does not override the layer below.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { DEFAULTS } from "./defaults.ts";
import { KEY_NAMES } from "./_keys.ts";

/** The layers, lowest precedence first. */
export interface ConfigLayers {
  file?: Partial<Config>;
  env?: Partial<Config>;
  flags?: Partial<Config>;
}

/**
 * Returns a complete, fresh `Config` (arrays copied, so callers may change it).
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./resolve_config.ts";
 * import assert from "node:assert/strict";
 * const c = resolveConfig({ file: { priority: 10, bind: "0.0.0.0:80" }, env: { priority: 20 } });
 * assert.equal(c.priority, 20);
 * assert.equal(c.bind, "0.0.0.0:80");
 * assert.equal(c.compression, "zstd");
 * ```
 */
export function resolveConfig(layers: ConfigLayers): Config {
  const out = {} as Record<keyof Config, unknown>;
  for (const key of KEY_NAMES) {
    let v: unknown = DEFAULTS[key];
    for (const layer of [layers.file, layers.env, layers.flags]) {
      if (layer?.[key] !== undefined) v = layer[key];
    }
    out[key] = key === "segments" || key === "storages" || key === "caches"
      ? (v as Record<string, unknown>[]).map((t) =>
        Object.fromEntries(Object.entries(t).map(([k, x]) => [k, Array.isArray(x) ? [...x] : x]))
      )
      : Array.isArray(v)
      ? [...v]
      : v;
  }
  return out as Config;
}
