/** Opens the configured backend. */
import { cacheLayout } from "../blob/cache_layout.ts";
import type { StorageSet } from "../blob/storage_set.ts";
import type { Store } from "./store.ts";

/**
 * `storages`: where the kv backend's packs go (built by the caller from
 * `[[storages]]`). Only the backend in use is loaded.
 */
export async function openStore(
  opts: {
    cacheDir: string;
    backend: "kv" | "filesystem";
    dbPath?: string;
    storages?: StorageSet;
  },
): Promise<Store> {
  const layout = cacheLayout(opts.cacheDir, opts.dbPath);
  return opts.backend === "filesystem"
    ? await (await import("./fs_store.ts")).FsStore.open(layout)
    : await (await import("./kv_store.ts")).KvStore.open(layout, { storages: opts.storages });
}
