/**
 * Flag parsing shared by all commands: strict GNU-style flags (`--name
 * value`, `--name=value`, `--flag`, `-h`, `--` ends them), the global flags
 * (`--cache-dir`, `--config`, `--cache`, `--help`) added to every command, and
 * one-line `UsageError`s. Its own code rather than `node:util`'s `parseArgs`,
 * which cost every start ~5 ms of loading node's compatibility layer (a server
 * on the clock at boot, a hook after every build).
 */
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
  const values = parse(argv, { ...GLOBAL_FLAGS, ...spec });
  const globals: Globals = {
    cacheDir: (values.values["cache-dir"] as string | undefined) ?? inherited.cacheDir,
    configPath: (values.values["config"] as string | undefined) ?? inherited.configPath,
    cache: (values.values["cache"] as string | undefined) ?? inherited.cache,
  };
  return { ...values, help: values.values.help === true, globals };
}

function parse(argv: string[], spec: FlagSpec): Pick<Parsed, "values" | "positionals"> {
  const values: Parsed["values"] = {};
  const positionals: string[] = [];
  const short = new Map(
    Object.entries(spec).flatMap(([name, o]) => o.short ? [[o.short, name] as const] : []),
  );
  const set = (name: string, v: string | boolean) => {
    if (spec[name].multiple) ((values[name] ??= []) as (string | boolean)[]).push(v);
    else values[name] = v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      positionals.push(a);
      continue;
    }
    const long = a.startsWith("--");
    const eq = long ? a.indexOf("=") : -1;
    const given = eq >= 0 ? a.slice(0, eq) : a;
    const name = long ? given.slice(2) : short.get(a.slice(1));
    const o = name === undefined ? undefined : spec[name];
    if (!o || !name || (!long && a.length !== 2)) throw new UsageError(`unknown option '${given}'`);
    if (o.type === "boolean") {
      if (eq >= 0) throw new UsageError(`option '${given}' does not take a value`);
      set(name, true);
      continue;
    }
    if (eq >= 0) {
      set(name, a.slice(eq + 1));
      continue;
    }
    const v = argv[i + 1];
    if (v === undefined) throw new UsageError(`option '${given}' needs a value`);
    if (v.startsWith("-") && v !== "-") {
      throw new UsageError(
        `option '${given}' needs a value, not '${v}' (a value starting with '-': ${given}=${v})`,
      );
    }
    set(name, v);
    i++;
  }
  for (const [name, o] of Object.entries(spec)) {
    if (values[name] === undefined && o.default !== undefined) values[name] = o.default;
  }
  return { values, positionals };
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

/** Reads a repeatable string flag (empty when absent). */
export function strs(p: Parsed, name: string): string[] {
  const v = p.values[name];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string");
  return typeof v === "string" ? [v] : [];
}

/** Refuses `--cache` for commands that always work on every cache (serve, swarm). */
export function noCacheFlag(globals: Globals, command: string): void {
  if (globals.cache !== undefined) {
    throw new UsageError(
      `${command} serves the default cache and every [[caches]] entry at once: --cache is for ` +
        "the commands that work on one cache (import, status, list, gc, …)",
    );
  }
}
