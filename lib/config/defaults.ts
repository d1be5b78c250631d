/**
 * The one table of built-in defaults. Every layer (file, environment,
 * flags) only overrides parts of it.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { NIXPKGS_KEY, UNIVERSAL_SEGMENT } from "./segments.ts";

/** Built-in defaults; frozen so no caller can change them for everyone. */
export const DEFAULTS: Readonly<Config> = Object.freeze({
  cache_dir: "~/.cache/arca",
  backend: "kv",
  db_path: "",
  bind: "127.0.0.1:5555",
  http_io: "auto",
  priority: 40,
  compression: "zstd",
  zstd_level: 3,
  signing_key_path: "",
  signing_key_paths: Object.freeze([]) as unknown as string[],
  store_dir: "/nix/store",
  log_level: "info",
  gc_interval: "1h",
  max_size: "",
  max_age: "",
  upload_tokens: Object.freeze([]) as unknown as string[],
  upload_tokens_file: "",
  read_token: "",
  metrics_token: "",
  trusted_public_keys: Object.freeze([]) as unknown as string[],
  sign_uploads: true,
  max_upload_size: 16 * 1024 ** 3,
  nixpkgs_keys: Object.freeze([NIXPKGS_KEY]) as unknown as string[],
  discovery_port: 7070,
  sync_port: 7071,
  swarm_bind: "0.0.0.0",
  multicast_group: "239.255.70.70",
  multicast_interface: "",
  multicast_ttl: 1,
  static_peers: Object.freeze([]) as unknown as string[],
  also_serve: false,
  max_peers: 64,
  swarm_key_path: "",
  cache_storages: Object.freeze([]) as unknown as string[],
  storage_strategy: "in-order",
  storages: Object.freeze([]) as unknown as Config["storages"],
  caches: Object.freeze([]) as unknown as Config["caches"],
  segments: Object.freeze([UNIVERSAL_SEGMENT]) as unknown as Config["segments"],
});
