/**
 * Parses `config.toml` text into a validated partial configuration. Every
 * problem is a one-line `ConfigError` naming the file, the line and the key:
 *
 * ```
 * config error: /home/me/.config/arca/config.toml:7: unknown key "compresion" (did you mean "compression"?)
 * config error: /home/me/.config/arca/config.toml:3: "priority" must be an integer from 0 to 1000, got "high"
 * ```
 *
 * When a file has several problems the first one (by line) is reported.
 *
 * @module
 */
import { parse, TomlError } from "smol-toml";
import type { Config } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import { checkValue } from "./check_value.ts";
import { isKey, KEY_NAMES } from "./_keys.ts";
import { findSite, type KeySite, locateKeys } from "./_locate.ts";
import { suggest } from "./_suggest.ts";
import { checkSegments, SegmentFieldError } from "./segments.ts";
import { checkCaches, checkStorages, TableFieldError } from "./storages.ts";

/**
 * Parses and validates TOML `text` read from `file` (used in messages only).
 * Keys absent from the text are absent from the result.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./parse_config.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseConfig('priority = 30\nbind = "[::1]:8080"\n', "c.toml"), {
 *   priority: 30,
 *   bind: "[::1]:8080",
 * });
 * assert.throws(() => parseConfig("\ncompresion = 'xz'\n", "c.toml"), {
 *   message: 'config error: c.toml:2: unknown key "compresion" (did you mean "compression"?)',
 * });
 * ```
 */
export function parseConfig(text: string, file: string): Partial<Config> {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text, { integersAsBigInt: true });
  } catch (e) {
    if (e instanceof TomlError) {
      const what = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new ConfigError(`${file}:${e.line}`, `invalid TOML: ${what}`);
    }
    // smol-toml's other failures (e.g. nesting too deep) have no position.
    throw new ConfigError(file, `invalid TOML: ${(e as Error)?.message ?? String(e)}`);
  }

  const sites = locateKeys(text);
  const problems: { line: number; error: ConfigError }[] = [];
  const out: Partial<Record<keyof Config, unknown>> = {};
  for (const [name, value] of Object.entries(doc)) {
    const site = findSite(sites, [name]);
    const line = site?.line ?? 0;
    const where = site ? `${file}:${site.line}` : file;
    if (!isKey(name)) {
      problems.push({ line, error: new ConfigError(where, unknownKey(name, site)) });
      continue;
    }
    try {
      out[name] = name === "segments"
        ? tablesAt("segments", () => checkSegments(value), sites, file)
        : name === "storages"
        ? tablesAt("storages", () => checkStorages(value), sites, file)
        : name === "caches"
        ? tablesAt("caches", () => checkCaches(value), sites, file)
        : checkValue(name, value, where);
    } catch (e) {
      problems.push({ line, error: e as ConfigError });
    }
  }
  if (problems.length > 0) throw problems.sort((a, b) => a.line - b.line)[0].error;
  return out as Partial<Config>;
}

/** A tables check, with a problem reported at the line of the table or field it is in. */
function tablesAt<T>(table: string, check: () => T, sites: KeySite[], file: string): T {
  try {
    return check();
  } catch (e) {
    if (!(e instanceof SegmentFieldError) && !(e instanceof TableFieldError)) throw e;
    // The i-th [[table]] header, then the field's line inside that table.
    const headers = sites.filter((s) => s.kind === "array-table" && s.path[0] === table);
    const start = headers[e.index];
    const next = headers[e.index + 1];
    const field = e.field === undefined
      ? undefined
      : sites.find((s) =>
        s.kind === "key" && s.path[0] === table && s.path[1] === e.field &&
        (!start || s.line > start.line) && (!next || s.line < next.line)
      );
    const line = (field ?? start)?.line;
    throw new ConfigError(line ? `${file}:${line}` : file, e.message);
  }
}

function unknownKey(name: string, site: KeySite | undefined): string {
  const near = suggest(name, KEY_NAMES);
  const hint = near ? ` (did you mean "${near}"?)` : "";
  // A table header is shown as written, e.g. [server] or [[peers]].
  const header = site?.path.map((p) => /^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p)).join(
    ".",
  );
  if (site?.kind === "table") return `unknown table [${header}]${hint}`;
  if (site?.kind === "array-table") return `unknown table [[${header}]]${hint}`;
  return `unknown key ${JSON.stringify(name)}${hint}`;
}
