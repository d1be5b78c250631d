/**
 * The typed configuration of Arca. Property names are the TOML keys
 * themselves (snake_case), so the file, the environment, `arca config` and
 * the code share one vocabulary and no mapping table can drift.
 *
 * @module
 */

/** Where metadata lives: Deno KV (SQLite-backed) or plain files. */
export type Backend = "kv" | "filesystem";
/** How NARs are compressed for Nix clients. */
export type Compression = "zstd" | "xz" | "none";
/** How much Arca logs. */
export type LogLevel = "error" | "warn" | "info" | "debug";

/** Every setting Arca reads from `config.toml`, the environment or flags. */
export interface Config {
  /** Root of the cache on disk; `~` is expanded by the IO layer. */
  cache_dir: string;
  /** Metadata backend. */
  backend: Backend;
  /** Metadata database path; "" means `<cache_dir>/db`. */
  db_path: string;
  /** HTTP listen address, `host:port` (IPv6 as `[::1]:5555`). */
  bind: string;
  /** Substituter priority advertised in `nix-cache-info` (lower wins). */
  priority: number;
  /** Compression of served NARs. */
  compression: Compression;
  /** zstd level (1..19). */
  zstd_level: number;
  /** One secret key file ("" for none). */
  signing_key_path: string;
  /** More secret key files; merged with `signing_key_path` by the user code. */
  signing_key_paths: string[];
  /** The Nix store directory the served paths belong to. */
  store_dir: string;
  /** Log verbosity. */
  log_level: LogLevel;
}
