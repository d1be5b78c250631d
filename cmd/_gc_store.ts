/**
 * gc and verify for whichever backend a `Store` is: the kv backend's
 * `runGc`/`verifyStore`, or the filesystem backend's `runFsGc`/`verifyFsStore`.
 * Roots, pins and access times live in KV for both (`storeMeta`).
 */
import {
  type GcOptions,
  type GcReport,
  runFsGc,
  runGc,
  verifyFsStore,
  type VerifyOptions,
  type VerifyReport,
  verifyStore,
} from "../lib/gc/mod.ts";
import { FsStore } from "../lib/store/fs_store.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import type { Store } from "../lib/store/store.ts";

/** The gc run for this store's backend. */
export function gcRunner(store: Store): (opts: GcOptions) => Promise<GcReport> {
  if (store instanceof KvStore) return (opts) => runGc(store, opts);
  if (store instanceof FsStore) return (opts) => runFsGc(store, opts);
  throw new TypeError(`gc does not know the ${store.backend} backend`);
}

/** `arca verify` for this store's backend. */
export function verifyOf(store: Store, opts: VerifyOptions): Promise<VerifyReport> {
  if (store instanceof KvStore) return verifyStore(store, opts);
  if (store instanceof FsStore) return verifyFsStore(store, opts);
  throw new TypeError(`verify does not know the ${store.backend} backend`);
}
