/** Opens the configured backend. */
import { cacheLayout } from "../blob/cache_layout.ts";
import type { StorageSet } from "../blob/storage_set.ts";
import { FsStore } from "./fs_store.ts";
import { KvStore } from "./kv_store.ts";
import type { Store } from "./store.ts";

/** `storages`: where the kv backend's packs go (built by the caller from `[[storages]]`). */
export function openStore(
  opts: {
    cacheDir: string;
    backend: "kv" | "filesystem";
    dbPath?: string;
    storages?: StorageSet;
  },
): Promise<Store> {
  const layout = cacheLayout(opts.cacheDir, opts.dbPath);
  return opts.backend === "filesystem"
    ? FsStore.open(layout)
    : KvStore.open(layout, { storages: opts.storages });
}
