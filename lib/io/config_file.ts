/**
 * Reads `config.toml` and produces the effective configuration:
 * DEFAULTS < file < environment (`ARCA_*`) < flags.
 *
 * Where the file is: `--config FILE`, else `ARCA_CONFIG` (both arrive as
 * `globals.configPath`), else `$XDG_CONFIG_HOME/arca/config.toml`, else
 * `$HOME/.config/arca/config.toml`.
 *
 * First run: when the file is missing at the default path, the commented
 * template is written there (directories created) and a line on stderr says
 * so; if it cannot be written, Arca warns and runs on the defaults. A path
 * given explicitly that does not exist is an error instead: a typo in
 * `--config` must not silently create a fresh file elsewhere.
 *
 * @module
 */
import {
  checkText,
  type Config,
  ConfigError,
  configFromEnv,
  configTemplate,
  expandHome,
  expandPaths,
  parseConfig,
  resolveConfig,
} from "../config/mod.ts";

type Env = Record<string, string | undefined>;

/** The configuration file used when none is given. */
export function defaultConfigPath(env: Env): string {
  const xdg = env.XDG_CONFIG_HOME;
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && xdg.startsWith("/")) return `${xdg.replace(/\/+$/, "")}/arca/config.toml`;
  const home = env.HOME;
  if (home) return `${home.replace(/\/+$/, "")}/.config/arca/config.toml`;
  throw new ConfigError(
    "configuration file",
    "neither XDG_CONFIG_HOME nor HOME is set; pass --config FILE or set ARCA_CONFIG",
  );
}

/** What `loadConfig` found. */
export interface LoadedConfig {
  /** The effective configuration, `~` expanded and `db_path` filled in. */
  config: Config;
  /** The configuration file read (or just written). */
  path: string;
  /** True when this call wrote the template because the file was missing. */
  created: boolean;
}

/**
 * Loads the effective configuration. `globals.cacheDir` (from `--cache-dir`
 * or `ARCA_DIR`) overrides `cache_dir`; `flags` are a command's own
 * overrides, already typed. Throws `ConfigError` for any bad value.
 */
export async function loadConfig(
  globals: { configPath?: string; cacheDir?: string },
  env: Env,
  flags: Partial<Config> = {},
): Promise<LoadedConfig> {
  const explicit = globals.configPath !== undefined;
  const given = globals.configPath ?? defaultConfigPath(env);
  if (given === "") throw new ConfigError("--config", "the configuration file path is empty");
  const path = expandHome(given, env.HOME, "--config");

  let text: string;
  let created = false;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!absent(e)) {
      throw new ConfigError(path, `cannot read the configuration file: ${(e as Error).message}`);
    }
    if (explicit) {
      throw new ConfigError(
        path,
        "no such configuration file (named by --config or ARCA_CONFIG; " +
          "without them the default file is used, and created on first run)",
      );
    }
    created = await writeTemplate(path);
    text = created ? configTemplate() : await readOrEmpty(path);
  }

  const file = parseConfig(text, path);
  const own: Partial<Config> = { ...flags };
  if (globals.cacheDir !== undefined) {
    const where = env.ARCA_DIR === globals.cacheDir
      ? "environment variable ARCA_DIR"
      : "--cache-dir";
    own.cache_dir = checkText("cache_dir", globals.cacheDir, where);
  }
  const config = resolveConfig({ file, env: configFromEnv(env), flags: own });
  return { config: expandPaths(config, env.HOME), path, created };
}

/** Writes the template unless the file exists; false when nothing was written. */
async function writeTemplate(path: string): Promise<boolean> {
  try {
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir !== "") await Deno.mkdir(dir, { recursive: true });
    // createNew: two first runs at once must not both write (or clobber an edit).
    await Deno.writeTextFile(path, configTemplate(), { createNew: true });
    console.error(`arca: wrote a commented configuration template to ${path}`);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    // A read-only home must not stop Arca: the defaults still apply.
    console.error(
      `arca: warning: could not write ${path}: ${(e as Error).message}; using defaults`,
    );
    return false;
  }
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (absent(e)) return "";
    throw new ConfigError(path, `cannot read the configuration file: ${(e as Error).message}`);
  }
}

/** The file is not there: missing, or a parent is not a directory. */
function absent(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory;
}
