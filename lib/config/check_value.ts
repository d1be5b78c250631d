/**
 * Validates one value for one key, whatever layer it came from. The file,
 * environment and flag layers all go through here so they accept and refuse
 * exactly the same values with the same words.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import { KEYS } from "./_keys.ts";

/**
 * Returns `value` as the key's type, or throws a `ConfigError` naming
 * `where` (e.g. "/etc/arca.toml:3", "ARCA_PRIORITY", "--bind"). Integers
 * must be bigint, as smol-toml gives them with `integersAsBigInt`, so that
 * a float such as `40.0` is told apart from the integer `40`.
 *
 * @example
 * ```ts
 * import { checkValue } from "./check_value.ts";
 * import assert from "node:assert/strict";
 * assert.equal(checkValue("priority", 10n, "here"), 10);
 * assert.throws(() => checkValue("priority", "high", "f.toml:3"), {
 *   message: 'config error: f.toml:3: "priority" must be an integer from 0 to 1000, got "high"',
 * });
 * ```
 */
export function checkValue<K extends keyof Config>(
  key: K,
  value: unknown,
  where: string,
): Config[K] {
  const spec = KEYS[key];
  const ok = spec.accept(value);
  if (ok === undefined) {
    throw new ConfigError(where, `"${key}" must be ${spec.expect}, got ${show(value)}`);
  }
  return ok as Config[K];
}

/**
 * Like `checkValue` for a value written as text (an environment variable or
 * a flag): integer keys take decimal digits, list keys take one element.
 */
export function checkText<K extends keyof Config>(key: K, text: string, where: string): Config[K] {
  const kind = KEYS[key].kind;
  let value: unknown = text;
  if (kind === "integer" && /^[+-]?\d{1,15}$/.test(text)) value = BigInt(text);
  else if (kind === "strings") value = [text];
  else if (kind === "boolean" && (text === "true" || text === "false")) value = text === "true";
  return checkValue(key, value, where);
}

/** A short, one-line rendering of a value for messages. */
function show(v: unknown): string {
  if (typeof v === "string") return clip(JSON.stringify(v));
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return Number.isInteger(v) ? v.toFixed(1) : String(v);
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (v !== null && typeof v === "object") return "a table";
  return String(v);
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 56)}…"` : s;
}
