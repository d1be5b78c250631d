/**
 * The metadata handle a store already holds. Both backends keep one
 * `MetaStore` (`KvStore.meta`, `FsStore.meta`); uploads and `arca sign` must
 * use that same handle: a second Deno KV connection to the same SQLite file
 * in one process fails concurrent commits with "database is locked".
 */
import { MetaStore } from "../kv/meta_store.ts";
import type { Store } from "./store.ts";

export function storeMeta(store: Store): MetaStore {
  const meta = (store as { meta?: unknown }).meta;
  if (meta instanceof MetaStore) return meta;
  throw new TypeError(`the ${store.backend} store does not expose its metadata handle`);
}
