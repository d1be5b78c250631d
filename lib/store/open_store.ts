/** Opens the configured backend. */
import { cacheLayout } from "../blob/cache_layout.ts";
import type { StorageSet } from "../blob/storage_set.ts";
import type { FlatFiles } from "./flat_files.ts";
import type { Store } from "./store.ts";

/**
 * `storages`: where the kv backend's packs go (built by the caller from
 * `[[storages]]`); `flat`: where the filesystem backend's files are (default:
 * the cache directory). Only the backend in use is loaded.
 */
export async function openStore(
  opts: {
    cacheDir: string;
    backend: "kv" | "filesystem";
    dbPath?: string;
    storages?: StorageSet;
    flat?: { files?: FlatFiles; name: string; storeDir?: string; priority?: number };
  },
): Promise<Store> {
  const layout = cacheLayout(opts.cacheDir, opts.dbPath);
  return opts.backend === "filesystem"
    ? await (await import("./fs_store.ts")).FsStore.open(layout, {
      files: opts.flat?.files,
      storageName: opts.flat?.name,
      storeDir: opts.flat?.storeDir,
      priority: opts.flat?.priority,
    })
    : await (await import("./kv_store.ts")).KvStore.open(layout, { storages: opts.storages });
}
