/**
 * Builds a cache's storages from the configuration: the `[[storages]]` it
 * names (S3 buckets, other disks), its strategy, and every other storage
 * read-only (packs written before a storage was taken off the list stay
 * readable). The S3 keys come from the table, a file, or the environment
 * (`ARCA_S3_ACCESS_KEY_ID` / `ARCA_S3_SECRET_ACCESS_KEY`, else the standard
 * `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`); no
 * message names a secret.
 */
import { parseSize } from "../lib/cli/duration.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import {
  type Config,
  expandHome,
  type StorageConfig,
  type StorageStrategy,
  unknownStorages,
} from "../lib/config/mod.ts";
import { FsBlobStore } from "../lib/blob/fs_blob_store.ts";
import { type StorageEntry, StorageSet } from "../lib/blob/storage_set.ts";
import { LOCAL } from "../lib/store/pack_places.ts";
import { BlobFlatFiles, type FlatFiles, LocalFlatFiles } from "../lib/store/flat_files.ts";

/** Which storages new packs of the default cache go to: `cache_storages`, else every one. */
export function defaultCacheStorages(config: Config): string[] {
  if (config.cache_storages.length) return config.cache_storages;
  return config.storages.map((s) => s.name);
}

/**
 * The storage set of a cache whose directory is `cacheDir` and whose new
 * packs go to `names`; undefined when that is the cache dir alone (today's
 * layout, no KV scan at open).
 */
export async function storageSetFor(
  config: Config,
  cacheDir: string,
  names: string[],
  strategy: StorageStrategy,
  env: Record<string, string> = Deno.env.toObject(),
): Promise<StorageSet | undefined> {
  const unknown = unknownStorages(names, config.storages);
  if (unknown.length) {
    throw new UsageError(
      `no [[storages]] table is named ${unknown.map((n) => `"${n}"`).join(", ")}`,
    );
  }
  const others = config.storages.filter((s) => !names.includes(s.name));
  if ((names.length === 0 || (names.length === 1 && names[0] === LOCAL)) && others.length === 0) {
    return undefined;
  }
  const local: StorageEntry = { name: LOCAL, store: new FsBlobStore(cacheDir, `${cacheDir}/tmp`) };
  const byName = new Map<string, StorageEntry>([[LOCAL, local]]);
  for (const s of config.storages) byName.set(s.name, await entryOf(s, env));
  const writable = (names.length ? names : [LOCAL]).map((n) => byName.get(n)!);
  const readOnly = [...byName.values()].filter((e) => !writable.includes(e));
  return new StorageSet(writable, strategy, readOnly);
}

/**
 * Where a filesystem-backend cache keeps its files: the one storage its
 * storages name (an s3 bucket, another directory); no `files` for its own
 * directory.
 * That layout has no placement of packs to spread: two storages are refused.
 */
export async function flatFilesFor(
  config: Config,
  env: Record<string, string> = Deno.env.toObject(),
): Promise<{ files?: FlatFiles; name: string }> {
  const names = defaultCacheStorages(config);
  const unknown = unknownStorages(names, config.storages);
  if (unknown.length) {
    throw new UsageError(
      `no [[storages]] table is named ${unknown.map((n) => `"${n}"`).join(", ")}`,
    );
  }
  if (names.length > 1) {
    throw new UsageError(
      `backend = "filesystem" keeps its files in exactly one storage, but this cache names ${names.length}` +
        ` (${names.map((n) => `"${n}"`).join(", ")}): set cache_storages (or the [[caches]]` +
        ` entry's storages) to one of them, or use backend = "kv"`,
    );
  }
  if (names.length === 0 || names[0] === LOCAL) {
    return { name: LOCAL }; // the store's own default: its cache directory
  }
  const s = config.storages.find((s) => s.name === names[0])!;
  if (s.type === "local") {
    const root = expandHome(s.path, env.HOME, `storages.${s.name}.path`);
    return { files: new LocalFlatFiles(root), name: s.name };
  }
  return { files: new BlobFlatFiles((await entryOf(s, env)).store), name: s.name };
}

async function entryOf(s: StorageConfig, env: Record<string, string>): Promise<StorageEntry> {
  const maxBytes = s.max_size === "" ? undefined : parseSize(s.max_size);
  if (s.type === "local") {
    const root = expandHome(s.path, env.HOME, `storages.${s.name}.path`);
    return { name: s.name, store: new FsBlobStore(root), maxBytes, weight: s.weight };
  }
  const accessKeyId = s.access_key_id || env.ARCA_S3_ACCESS_KEY_ID || env.AWS_ACCESS_KEY_ID || "";
  let secret = s.secret_access_key;
  if (!secret && s.secret_access_key_file) {
    const path = expandHome(
      s.secret_access_key_file,
      env.HOME,
      `storages.${s.name}.secret_access_key_file`,
    );
    try {
      secret = (await Deno.readTextFile(path)).trim();
    } catch (e) {
      throw new UsageError(`storage "${s.name}": cannot read ${path}: ${(e as Error).name}`);
    }
  }
  secret ||= env.ARCA_S3_SECRET_ACCESS_KEY || env.AWS_SECRET_ACCESS_KEY || "";
  if (!accessKeyId || !secret) {
    throw new UsageError(
      `storage "${s.name}": no S3 ${accessKeyId ? "secret key" : "access key"} (set ${
        accessKeyId
          ? "secret_access_key_file, ARCA_S3_SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY"
          : "access_key_id, ARCA_S3_ACCESS_KEY_ID or AWS_ACCESS_KEY_ID"
      })`,
    );
  }
  // Loaded only for a cache that has S3 storages.
  const { S3BlobStore } = await import("../lib/s3/s3_blob_store.ts");
  const store = new S3BlobStore({
    endpoint: s.endpoint,
    region: s.region,
    bucket: s.bucket,
    prefix: s.prefix,
    accessKeyId,
    secretAccessKey: secret,
    sessionToken: env.AWS_SESSION_TOKEN || undefined,
    pathStyle: s.path_style,
    // Smaller pages and delete batches make S3's pagination show in tests (default 1000).
    pageSize: Number(env.ARCA_S3_PAGE_SIZE) || undefined,
    deleteBatch: Number(env.ARCA_S3_PAGE_SIZE) || undefined,
  });
  return { name: s.name, store, maxBytes, weight: s.weight };
}
