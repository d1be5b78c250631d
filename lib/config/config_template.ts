/**
 * The commented `config.toml` written on first run. It is generated from
 * the key table, so every key appears with its explanation and default.
 * The keys are commented out: an untouched template keeps following the
 * built-in defaults, even when a later version changes them.
 *
 * @module
 */
import { DEFAULTS } from "./defaults.ts";
import { KEY_NAMES, KEYS } from "./_keys.ts";
import { formatKey } from "./format_config.ts";

const HEADER = `# Arca configuration (TOML).
#
# Every key is optional; the commented-out lines show the built-in defaults.
# Uncomment a line to change a setting. Precedence, lowest first:
# built-in defaults < this file < environment variables < command-line flags.
# 'arca config' prints the effective configuration.
`;

/**
 * @example
 * ```ts
 * import { configTemplate } from "./config_template.ts";
 * import assert from "node:assert/strict";
 * assert.match(configTemplate(), /^# compression = "zstd"$/m);
 * ```
 */
export function configTemplate(): string {
  const sections = KEY_NAMES.map((key) => {
    const spec = KEYS[key];
    const env = spec.env ? [`Environment: ${spec.env}.`] : [];
    const doc = [...spec.doc, `Must be ${spec.expect}.`, ...env].map((l) => `# ${l}`);
    const value = formatKey(key, DEFAULTS[key]).split("\n").map((l) => `# ${l}`.trimEnd());
    return [...doc, ...value].join("\n");
  });
  return [HEADER.trimEnd(), ...sections].join("\n\n") + "\n";
}
