/** What receiving uploads needs, gathered once by `serve`. */
import type { Compression } from "../compress/mod.ts";
import type { MetaStore } from "../kv/meta_store.ts";
import type { PublicKey, SecretKey } from "../sign/mod.ts";
import type { CacheLayout } from "../blob/cache_layout.ts";
import type { Store } from "./store.ts";

export interface UploadContext {
  store: Store;
  /** Where uploaded NAR names are remembered (for `HEAD nar/<name>`). */
  meta: MetaStore;
  layout: CacheLayout;
  storeDir: string;
  /** How uploaded NARs are stored and served (Arca's own form). */
  compression: Compression;
  level: number;
  /** When non-empty, a narinfo needs a valid signature by one of these. */
  trustedKeys: PublicKey[];
  /** Arca's signatures added to every uploaded path (empty: none). */
  signingKeys: SecretKey[];
  /** Largest body accepted, in bytes. */
  maxBytes: number;
}
