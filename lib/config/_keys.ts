/**
 * The table describing every configuration key: what it means (for the
 * template), what values it takes (for validation and messages), which
 * environment variable sets it, and whether it is a path. Its type lists
 * every key of `Config`, so a new key cannot be added without its entry.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { parseBind } from "./parse_bind.ts";
import { parseDuration, parseSize } from "../cli/duration.ts";
import { checkSegments, PUBLIC_KEY } from "./segments.ts";
import {
  checkCaches,
  checkStorages,
  STORAGE_STRATEGIES,
  type StorageStrategy,
} from "./storages.ts";

/** How one key is explained, checked and set from the environment. */
export interface KeySpec<T> {
  /** Lines of explanation for the template. */
  doc: string[];
  /** What a valid value is, as words: "an integer from 0 to 1000". */
  expect: string;
  /** How an environment variable's text becomes a value to check. */
  kind: "string" | "integer" | "strings" | "boolean" | "tables";
  /** Returns the typed value, or undefined when `v` is not valid. */
  accept(v: unknown): T | undefined;
  /** The environment variable that sets this key, if any. */
  env?: string;
  /** The value is a filesystem path (or paths): `~` is expanded. */
  path?: boolean;
}

type Keys = { readonly [K in keyof Config]: KeySpec<Config[K]> };

function integer(min: number, max: number): Pick<KeySpec<number>, "expect" | "kind" | "accept"> {
  return {
    expect: `an integer from ${min} to ${max}`,
    kind: "integer",
    // TOML integers arrive as bigint (floats as number), so 40.0 is refused.
    accept: (v) => typeof v === "bigint" && v >= min && v <= max ? Number(v) : undefined,
  };
}

function oneOf<T extends string>(...values: T[]): Pick<KeySpec<T>, "expect" | "kind" | "accept"> {
  return {
    expect: `one of ${values.map((v) => `"${v}"`).join(", ")}`,
    kind: "string",
    accept: (v) => (values as unknown[]).includes(v) ? v as T : undefined,
  };
}

function text(
  expect: string,
  ok: (s: string) => boolean,
): Pick<KeySpec<string>, "expect" | "kind" | "accept"> {
  return { expect, kind: "string", accept: (v) => typeof v === "string" && ok(v) ? v : undefined };
}

function strings(
  expect: string,
  ok: (s: string) => boolean,
): Pick<KeySpec<string[]>, "expect" | "kind" | "accept"> {
  return {
    expect,
    kind: "strings",
    accept: (v) =>
      Array.isArray(v) && v.every((s) => typeof s === "string" && ok(s)) ? [...v] : undefined,
  };
}

const anyPath = (s: string) => !s.includes("\0");
const valid = (f: () => unknown) => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};
const somePath = (s: string) => s !== "" && anyPath(s);
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const isMulticastV4 = (s: string) =>
  IPV4.test(s) && Number(s.split(".")[0]) >= 224 &&
  Number(s.split(".")[0]) <= 239;
const isAddress = (s: string) => IPV4.test(s) || (/^[0-9A-Fa-f:.]+$/.test(s) && s.includes(":"));
const boolean: Pick<KeySpec<boolean>, "expect" | "kind" | "accept"> = {
  expect: "true or false",
  kind: "boolean",
  accept: (v) => typeof v === "boolean" ? v : undefined,
};

export const KEYS: Keys = {
  cache_dir: {
    doc: ["Where the cache keeps its data. `~` means $HOME."],
    ...text("a non-empty path", somePath),
    env: "ARCA_DIR",
    path: true,
  },
  backend: {
    doc: ['Metadata backend: "kv" (Deno KV, SQLite-backed) or "filesystem".'],
    ...oneOf("kv", "filesystem"),
    env: "ARCA_BACKEND",
  },
  db_path: {
    doc: ['Metadata database path; "" means <cache_dir>/db.'],
    ...text("a path", anyPath),
    env: "ARCA_DB_PATH",
    path: true,
  },
  bind: {
    doc: ["HTTP listen address, host:port; IPv6 in brackets: [::1]:5555."],
    ...text('an address "host:port" (IPv6 as "[::1]:5555")', (s) => parseBind(s) !== undefined),
    env: "ARCA_BIND",
  },
  http_io: {
    doc: [
      'How `serve` moves bytes: "epoll" (its own event loop on a thread, Linux with the FFI',
      'permission), "portable" (Deno\'s sockets, anywhere) or "auto" (epoll where it can run).',
    ],
    ...oneOf("auto", "epoll", "portable"),
    env: "ARCA_HTTP_IO",
  },
  priority: {
    doc: ["Priority advertised to Nix in nix-cache-info; lower is preferred."],
    ...integer(0, 1000),
    env: "ARCA_PRIORITY",
  },
  compression: {
    doc: ['Compression of the NARs served to Nix: "zstd", "xz" or "none".'],
    ...oneOf("zstd", "xz", "none"),
    env: "ARCA_COMPRESSION",
  },
  zstd_level: {
    doc: ["zstd compression level, 1 (fastest) to 19 (smallest)."],
    ...integer(1, 19),
  },
  signing_key_path: {
    doc: [
      'A secret signing key file (nix-store --generate-binary-cache-key format); "" for none.',
    ],
    ...text("a path", anyPath),
    env: "ARCA_SIGNING_KEY",
    path: true,
  },
  signing_key_paths: {
    doc: ["More secret key files; narinfos get one signature per key (with signing_key_path)."],
    expect: "an array of non-empty paths",
    kind: "strings",
    accept: (v) =>
      Array.isArray(v) && v.every((s) => typeof s === "string" && somePath(s)) ? [...v] : undefined,
    path: true,
  },
  store_dir: {
    doc: ["The Nix store directory of the paths served."],
    ...text(
      "an absolute path without a trailing slash",
      (s) => s.length > 1 && s.startsWith("/") && !s.endsWith("/") && anyPath(s),
    ),
  },
  log_level: {
    doc: ['How much to log: "error", "warn", "info" or "debug".'],
    ...oneOf("error", "warn", "info", "debug"),
    env: "ARCA_LOG_LEVEL",
  },
  gc_interval: {
    doc: ["How often `serve` collects garbage when max_size or max_age is set, e.g. 1h, 30m."],
    ...text(
      "a duration such as 1h, 30m or 1h30m",
      (s) => valid(() => parseDuration(s)) && parseDuration(s) > 0,
    ),
  },
  max_size: {
    doc: [
      "Keep the cache directory under this size on disk (as du -sb counts it, database included,",
      'tmp/ not), e.g. 10G, 500M, 1T; "" for no limit.',
    ],
    ...text('a size such as 10G, 500M or 1T, or ""', (s) => s === "" || valid(() => parseSize(s))),
  },
  max_age: {
    doc: ['Remove paths neither imported nor used for this long, e.g. 30d, 24h; "" for never.'],
    ...text(
      'a duration such as 30d, 7d or 24h, or ""',
      (s) => s === "" || valid(() => parseDuration(s)),
    ),
  },
  upload_tokens: {
    doc: [
      "Tokens allowed to upload (nix copy --to http://user:TOKEN@host); the user name is ignored.",
      "Several may be listed so one can be rotated out. Without any, uploads are refused.",
    ],
    ...strings("an array of tokens (non-empty, no whitespace)", (s) => /^\S+$/.test(s)),
    env: "ARCA_UPLOAD_TOKEN",
  },
  upload_tokens_file: {
    doc: [
      'A file of more upload tokens, one per line (# comments), mode 0600; "" for none.',
      "Keeps tokens out of config.toml (and out of the Nix store).",
    ],
    ...text("a path", anyPath),
    env: "ARCA_UPLOAD_TOKENS_FILE",
    path: true,
  },
  read_token: {
    doc: ['When set, reading the cache needs this token too (a private cache); "" for open reads.'],
    ...text('a token without whitespace, or ""', (s) => /^\S*$/.test(s)),
    env: "ARCA_READ_TOKEN",
  },
  metrics_token: {
    doc: [
      'When set, GET /metrics needs this token (Bearer or Basic password); "" means /metrics',
      "needs the read token when read_token is set, and is open otherwise.",
    ],
    ...text('a token without whitespace, or ""', (s) => /^\S*$/.test(s)),
    env: "ARCA_METRICS_TOKEN",
  },
  trusted_public_keys: {
    doc: ["Public keys (name:base64); when set, an uploaded narinfo needs a valid Sig by one."],
    ...strings('an array of public keys "name:base64"', (s) => PUBLIC_KEY.test(s)),
  },
  sign_uploads: {
    doc: ["Sign uploaded paths with the configured signing keys too (foreign Sigs are kept)."],
    ...boolean,
  },
  max_upload_size: {
    doc: ["The largest upload body accepted, in bytes; larger ones get 413."],
    ...integer(1024, 2 ** 50),
  },
  nixpkgs_keys: {
    doc: [
      'Public keys that make a path "nixpkgs" for segment filters: its narinfo carries a valid',
      'signature by one of them. Every other path is "custom".',
    ],
    ...strings('an array of public keys "name:base64"', (s) => PUBLIC_KEY.test(s)),
  },
  discovery_port: {
    doc: ["UDP port of swarm announces (multicast); `arca swarm --discovery-port`."],
    ...integer(1, 65535),
    env: "ARCA_DISCOVERY_PORT",
  },
  sync_port: {
    doc: ["TCP port of the encrypted peer links; `arca swarm --sync-port`."],
    ...integer(0, 65535),
    env: "ARCA_SYNC_PORT",
  },
  swarm_bind: {
    doc: ["Address the peer-link listener binds (0.0.0.0: every IPv4 interface)."],
    ...text("an IPv4 or IPv6 address", isAddress),
    env: "ARCA_SWARM_BIND",
  },
  multicast_group: {
    doc: ["IPv4 multicast group of announces; 239.0.0.0/8 is administratively scoped."],
    ...text("an IPv4 multicast address (224.0.0.0 to 239.255.255.255)", isMulticastV4),
    env: "ARCA_MULTICAST_GROUP",
  },
  multicast_interface: {
    doc: ['IPv4 address of the interface that sends and receives announces; "" for the default.'],
    ...text('an IPv4 address, or ""', (s) => s === "" || IPV4.test(s)),
    env: "ARCA_MULTICAST_INTERFACE",
  },
  multicast_ttl: {
    doc: ["Multicast TTL of announces: 1 keeps them on the local network segment."],
    ...integer(1, 32),
  },
  static_peers: {
    doc: [
      "Peers to link to without discovery (networks without multicast): host:port of their",
      "sync port; `arca swarm --static-peer`.",
    ],
    ...strings('an array of "host:port"', (s) => parseBind(s) !== undefined),
    env: "ARCA_STATIC_PEER",
  },
  also_serve: {
    doc: ["`arca swarm` also serves the cache to Nix (on `bind`), peers' paths included."],
    ...boolean,
    env: "ARCA_ALSO_SERVE",
  },
  max_peers: {
    doc: ["The most peer links at once; more peers are not dialled or accepted."],
    ...integer(1, 1024),
  },
  swarm_key_path: {
    doc: [
      'The node\'s static key file (its identity on peer links); "" means <cache_dir>/swarm.key.',
    ],
    ...text("a path", anyPath),
    path: true,
  },
  cache_storages: {
    doc: [
      'Where the cache\'s new packs and manifests go: names of [[storages]] ("local" is the cache',
      'directory). Empty: the cache directory, or with backend = "s3" every s3 storage.',
    ],
    ...strings("an array of storage names", (s) => /^[a-z0-9][a-z0-9_-]{0,62}$/.test(s)),
  },
  storage_strategy: {
    doc: [
      'How packs are spread over cache_storages: "in-order" (fill one, then the next),',
      '"round-robin", "split" (by each storage\'s weight) or "least-used".',
    ],
    ...oneOf<StorageStrategy>(...STORAGE_STRATEGIES),
  },
  storages: {
    doc: [
      'Places for packs: [[storages]] tables with name, type ("s3" or "local"), and for s3',
      "endpoint, region, bucket, prefix, access_key_id, secret_access_key_file (or",
      "secret_access_key; else ARCA_S3_* or AWS_* variables), path_style; for local, path;",
      "max_size (full above) and weight (for split). See the README.",
    ],
    expect: "an array of [[storages]] tables",
    kind: "tables",
    accept: (v) => {
      try {
        return checkStorages(v);
      } catch {
        return undefined;
      }
    },
  },
  caches: {
    doc: [
      "More caches served by the same process, each under /<name>/ with its own directory",
      "<cache_dir>/caches/<name>: [[caches]] tables with name (not one of Arca's routes: nar, log,",
      "api, gcroots, metrics, …), storages ([] : its own directory), storage_strategy, max_age",
      "(retention), upload_tokens, read_token, signing_key_paths, trusted_public_keys, priority.",
      "None: one cache at /. `arca --cache NAME …` works on one of them. See the README.",
    ],
    expect: "an array of [[caches]] tables",
    kind: "tables",
    accept: (v) => {
      try {
        return checkCaches(v);
      } catch {
        return undefined;
      }
    },
  },
  segments: {
    doc: [
      "Swarm segments: peers that share a segment's topic key replicate its paths. Listing any",
      "[[segments]] replaces the default list (the universal segment shown here); copy it to keep",
      "it. Fields: name; topic_key (64 hex characters, from `arca keygen`); description; filter,",
      'which local paths it takes unless `import --segment` picked one: "nixpkgs" (signed by',
      'nixpkgs_keys), "custom" (every other path) or "all"; trusted_public_keys, whose signatures',
      "make a peer's narinfo acceptable (empty: this node's own signing keys). Keep it last.",
    ],
    expect: "an array of [[segments]] tables",
    kind: "tables",
    accept: (v) => {
      try {
        return checkSegments(v);
      } catch {
        return undefined;
      }
    },
  },
};

/** The keys in their documented order. */
export const KEY_NAMES = Object.keys(KEYS) as (keyof Config)[];

/** Whether `name` is a configuration key (own property: "constructor" is not one). */
export function isKey(name: string): name is keyof Config {
  return Object.hasOwn(KEYS, name);
}
