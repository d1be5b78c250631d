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
import type { Segment } from "./segments.ts";
import type { CacheConfig, StorageConfig, StorageStrategy } from "./storages.ts";

/** Which HTTP driver `serve` uses (see lib/server/http_server.ts). */
export type HttpIo = "auto" | "epoll" | "portable";
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
  /** HTTP driver: the epoll front where it can run ("auto"), or always one of the two. */
  http_io: HttpIo;
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
  /** How often `serve` runs gc (a duration such as "1h"), when a limit below is set. */
  gc_interval: string;
  /** Size limit for gc ("10G"); "" for none. */
  max_size: string;
  /** Age limit for gc ("30d"); "" for none. */
  max_age: string;
  /** Tokens that may upload (`nix copy --to`); several, so one can be rotated out. */
  upload_tokens: string[];
  /** A file of more upload tokens, one per line, read by `serve` at start ("" for none). */
  upload_tokens_file: string;
  /** When not "", reads (GET/HEAD) need this token too: a private cache. */
  read_token: string;
  /** When not "", `/metrics` needs this token (else the read token, when set). */
  metrics_token: string;
  /** `name:base64` keys; when any is set, an uploaded narinfo needs a valid `Sig` by one. */
  trusted_public_keys: string[];
  /** Uploaded paths also get Arca's own signatures (with the configured signing keys). */
  sign_uploads: boolean;
  /** Largest upload body accepted, in bytes (413 above). */
  max_upload_size: number;
  /** Keys whose valid signature makes a path "nixpkgs" for segment filters. */
  nixpkgs_keys: string[];
  /** UDP port of swarm announces (multicast). */
  discovery_port: number;
  /** TCP port of encrypted peer links. */
  sync_port: number;
  /** Address the peer-link listener binds. */
  swarm_bind: string;
  /** IPv4 multicast group of announces (admin-scoped). */
  multicast_group: string;
  /** IPv4 address of the interface announces use; "" for the system's choice. */
  multicast_interface: string;
  /** Multicast TTL: 1 keeps announces on the local link. */
  multicast_ttl: number;
  /** Peers to link to without discovery, `host:port` of their sync port. */
  static_peers: string[];
  /** `arca swarm` also runs the substituter in its process. */
  also_serve: boolean;
  /** Most peer links at once. */
  max_peers: number;
  /** The node's static Noise key file; "" means `<cache_dir>/swarm.key`. */
  swarm_key_path: string;
  /** Storages new packs go to (names of `storages`, "local" = the cache dir); empty: all of them. */
  cache_storages: string[];
  /** How packs are spread over `cache_storages`. */
  storage_strategy: StorageStrategy;
  /** Places for packs: S3 buckets, other disks. */
  storages: StorageConfig[];
  /** More caches served by the same process under `/<name>/`. */
  caches: CacheConfig[];
  /** Swarm segments; listing any replaces the default (the universal segment). */
  segments: Segment[];
}
