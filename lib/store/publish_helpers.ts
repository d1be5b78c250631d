/** Pieces both backends share when storing and publishing a path. */
import { decodeNix32 } from "../encoding/mod.ts";
import { formatHash, type Hash, hashEquals } from "../hash/mod.ts";
import type { NarInfo } from "../narinfo/mod.ts";
import type { PathMeta } from "../narinfo/path_meta.ts";
import { signNarinfo } from "../sign/mod.ts";
import type { SecretKey } from "../sign/mod.ts";
import { parseStorePathBase } from "../store_path/mod.ts";
import { narFileName } from "./nar_file_name.ts";
import { HashMismatchError, type Store, type StoredNar } from "./store.ts";

/** Throws (after dropping the unsealed pack) unless the NAR is what was announced. */
export function checkExpected(
  expect: { narHash: Hash; narSize: number; what: string; source: string },
  narHash: Hash,
  narSize: number,
  pack: { abort(): void },
): void {
  if (hashEquals(narHash, expect.narHash) && narSize === expect.narSize) return;
  pack.abort();
  throw new HashMismatchError(
    `refusing ${expect.what}: its NAR hashes to ${formatHash(narHash)} (${narSize} bytes)` +
      ` but ${expect.source} ${formatHash(expect.narHash)} (${expect.narSize} bytes)`,
  );
}

/** References of `meta` (other than itself) that the store does not publish yet. */
export async function missingReferences(store: Store, meta: PathMeta): Promise<string[]> {
  const self = meta.storePath.slice(meta.storePath.lastIndexOf("/") + 1);
  const missing: string[] = [];
  for (const ref of meta.references) {
    if (ref === self) continue;
    if (!(await store.getNarinfo(parseStorePathBase(ref).hashPart))) missing.push(ref);
  }
  return missing;
}

/**
 * The narinfo Arca serves for a path: Nix's facts (path, NarHash, size,
 * references, deriver, CA, existing signatures) with Arca's own file (URL,
 * compression, FileHash, FileSize), signed with `keys`. A signature covers
 * only the former, so rewriting the latter keeps foreign signatures valid.
 */
export function buildNarinfo(meta: PathMeta, stored: StoredNar, keys: SecretKey[]): NarInfo {
  if (!hashEquals(meta.narHash, stored.narHash) || meta.narSize !== stored.narSize) {
    throw new HashMismatchError(
      `refusing ${meta.storePath}: NarHash/NarSize ${formatHash(meta.narHash)}/${meta.narSize}` +
        ` do not match the stored NAR's ${formatHash(stored.narHash)}/${stored.narSize}`,
    );
  }
  let info: NarInfo = {
    storePath: meta.storePath,
    url: `nar/${narFileName(stored.fileHash32, stored.compression)}`,
    compression: stored.compression,
    fileHash: { algo: "sha256", digest: decodeNix32(stored.fileHash32) },
    fileSize: stored.fileSize,
    narHash: stored.narHash,
    narSize: stored.narSize,
    references: [...new Set(meta.references)].sort(),
    deriver: meta.deriver,
    sigs: meta.sigs,
    ca: meta.ca,
  };
  for (const k of keys) info = signNarinfo(info, k);
  return info;
}
