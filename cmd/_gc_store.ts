/** The kv backend behind a `Store`, for the gc commands (the filesystem backend has no gc yet). */
import { UsageError } from "../lib/cli/usage_error.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import type { Store } from "../lib/store/store.ts";

export function kvStoreOf(store: Store, command: string): KvStore {
  if (store instanceof KvStore) return store;
  throw new UsageError(`'${command}' needs the kv backend (this cache uses '${store.backend}')`);
}
