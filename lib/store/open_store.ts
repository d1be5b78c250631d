/** Opens the configured backend. */
import { cacheLayout } from "../blob/cache_layout.ts";
import { FsStore } from "./fs_store.ts";
import { KvStore } from "./kv_store.ts";
import type { Store } from "./store.ts";

export function openStore(
  opts: { cacheDir: string; backend: "kv" | "filesystem"; dbPath?: string },
): Promise<Store> {
  const layout = cacheLayout(opts.cacheDir, opts.dbPath);
  return opts.backend === "filesystem" ? FsStore.open(layout) : KvStore.open(layout);
}
