/**
 * Flag parsing shared by all commands: a thin layer over `node:util`
 * `parseArgs` that adds the global flags (`--cache-dir`, `--config`,
 * `--cache`, `--help`) to every command and turns parse failures into one-line
 * `UsageError`s.
 */
import { parseArgs } from "node:util";
import { UsageError } from "../lib/cli/usage_error.ts";

/** Global options, from flags (before or after the command) or the environment. */
export interface Globals {
  /** `--cache-dir`, else `ARCA_DIR`; undefined means "use the config/default". */
  cacheDir?: string;
  /** `--config`, else `ARCA_CONFIG`; undefined means the default path. */
  configPath?: string;
  /** `--cache NAME`: work on that `[[caches]]` entry instead of the default cache. */
  cache?: string;
}

export type FlagSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }
>;

const GLOBAL_FLAGS: FlagSpec = {
  "cache-dir": { type: "string" },
  "config": { type: "string" },
  "cache": { type: "string" },
  "help": { type: "boolean", short: "h" },
};

export interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  help: boolean;
  globals: Globals;
}

/**
 * Parses `argv` against `spec` plus the global flags. Global flags given here
 * override those given before the command name (`inherited`).
 */
export function parseFlags(argv: string[], spec: FlagSpec, inherited: Globals = {}): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL_FLAGS, ...spec },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(oneLine((e as Error).message));
  }
  const { values, positionals } = parsed;
  const globals: Globals = {
    cacheDir: (values["cache-dir"] as string | undefined) ?? inherited.cacheDir,
    configPath: (values["config"] as string | undefined) ?? inherited.configPath,
    cache: (values["cache"] as string | undefined) ?? inherited.cache,
  };
  return { values, positionals, help: values.help === true, globals };
}

/** Reads a string flag, or undefined. */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === "string" ? v : undefined;
}

/** Reads a boolean flag (false when absent). */
export function bool(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/** Fails with a usage error unless the number of positionals is in [min, max]. */
export function expectPositionals(p: Parsed, min: number, max: number, what: string): void {
  const n = p.positionals.length;
  if (n < min) throw new UsageError(`missing ${what}`);
  if (n > max) throw new UsageError(`unexpected argument '${p.positionals[max]}'`);
}

function oneLine(s: string): string {
  // node's messages sometimes carry a hint on a second line; keep the first.
  return s.split("\n")[0].replace(/\. To specify a positional.*$/, "");
}

/** Reads a repeatable string flag (empty when absent). */
export function strs(p: Parsed, name: string): string[] {
  const v = p.values[name];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string");
  return typeof v === "string" ? [v] : [];
}
