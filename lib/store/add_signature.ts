/**
 * `arca sign`: adds a signature to paths already cached, so a signing key can
 * be rotated without importing again (sign with the new key, later drop the
 * old one from clients' trusted-public-keys). A signature covers only the
 * fingerprint (path, NarHash, NarSize, references), so nothing else changes.
 * The kv backend updates the record and announces the change to running
 * servers; the filesystem backend rewrites the narinfo atomically (a rename,
 * or one PUT in a bucket).
 */
import type { MetaStore } from "../kv/meta_store.ts";
import { formatNarinfo } from "../narinfo/mod.ts";
import { type SecretKey, signNarinfo } from "../sign/mod.ts";
import { parseStorePath } from "../store_path/mod.ts";
import type { Store } from "./store.ts";
import type { FsStore } from "./fs_store.ts";
import { narinfoName } from "./flat_files.ts";

export type SignOutcome = "signed" | "already" | "missing";

/** Signs the cached path `hashPart` with `key`; "already" when that exact signature is there. */
export async function addSignature(
  store: Store,
  meta: MetaStore,
  hashPart: string,
  key: SecretKey,
  storeDir?: string,
): Promise<SignOutcome> {
  const info = await store.getNarinfo(hashPart);
  if (!info) return "missing";
  const signed = signNarinfo(info, key, storeDir);
  const before = [...info.sigs].sort();
  if (before.length === signed.sigs.length && before.every((s, i) => s === signed.sigs[i])) {
    return "already";
  }
  if (store.backend === "kv") {
    return (await meta.setSigs(hashPart, signed.sigs)) ? "signed" : "missing";
  }
  await (store as FsStore).files.writeText(narinfoName(hashPart), formatNarinfo(signed));
  return "signed";
}

/** The hash parts of every cached path. */
export async function allHashParts(store: Store): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list()) out.push(parseStorePath(info.storePath).hashPart);
  return out;
}
