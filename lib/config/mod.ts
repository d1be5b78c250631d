/**
 * Arca's typed configuration: one DEFAULTS object, `config.toml` parsing
 * with errors that name file, line and key, the `ARCA_*` environment
 * variables, precedence DEFAULTS < file < env < flags, and the commented
 * template written on first run. Pure: the file itself is read by
 * `lib/io/config_file.ts`.
 *
 * @module
 */
export type { Backend, Compression, Config, HttpIo, LogLevel } from "./config.ts";
export { DEFAULTS } from "./defaults.ts";
export { ConfigError } from "./config_error.ts";
export { checkText, checkValue } from "./check_value.ts";
export { parseConfig } from "./parse_config.ts";
export { type ConfigLayers, resolveConfig } from "./resolve_config.ts";
export { configFromEnv, ENV_VARS } from "./config_from_env.ts";
export { configTemplate } from "./config_template.ts";
export { formatConfig, hideSecrets } from "./format_config.ts";
export {
  type CacheConfig,
  checkCaches,
  checkStorages,
  RESERVED_CACHE_NAMES,
  STORAGE_STRATEGIES,
  type StorageConfig,
  type StorageStrategy,
  unknownStorages,
} from "./storages.ts";
export { expandHome, expandPaths } from "./expand_paths.ts";
export { cacheDirOf, configOfCache } from "./cache_config.ts";
export { type Bind, parseBind } from "./parse_bind.ts";
