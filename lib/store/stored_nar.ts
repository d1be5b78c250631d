/** The NAR file records both backends keep in KV, read and written one way. */
import { encodeNix32 } from "../encoding/mod.ts";
import { formatHash, type Hash, parseHash } from "../hash/mod.ts";
import type { MetaStore } from "../kv/meta_store.ts";
import type { PackPlaced } from "../kv/records.ts";
import type { Compression } from "../compress/mod.ts";
import type { IngestResult } from "./ingest_chunks.ts";
import type { StoredNar } from "./store.ts";

/** The stored NAR with this NarHash, per its KV record (the caller checks the bytes exist). */
export async function findStoredNar(
  meta: MetaStore,
  narHash: Hash,
): Promise<StoredNar | undefined> {
  const fileHash32 = await meta.findNarFile(encodeNix32(narHash.digest));
  const rec = fileHash32 && (await meta.getNarFile(fileHash32));
  if (!fileHash32 || !rec) return undefined;
  return {
    narHash: parseHash(rec.narHash),
    narSize: rec.narSize,
    fileHash32,
    fileSize: rec.fileSize,
    compression: rec.compression,
    storedBytes: 0,
  };
}

/** Commits the record of a NAR file just written and returns what was stored. */
export async function recordStoredNar(
  meta: MetaStore,
  res: IngestResult,
  compression: Compression,
  added: { newChunks: number; storedBytes: number; pack?: PackPlaced; manifestAt?: string },
): Promise<StoredNar> {
  const narHash: Hash = { algo: "sha256", digest: res.narHash };
  const fileHash32 = encodeNix32(res.fileHash);
  await meta.commitNarFile({
    fileHash32,
    narHash32: encodeNix32(res.narHash),
    narFile: {
      narHash: formatHash(narHash),
      compression,
      fileSize: res.fileSize,
      narSize: res.narSize,
      chunks: res.manifest.count,
      createdAt: Date.now(),
      ...(added.manifestAt && added.manifestAt !== "local" ? { manifestAt: added.manifestAt } : {}),
    },
    newChunks: added.newChunks,
    storedBytes: added.storedBytes,
    pack: added.pack,
  });
  return {
    narHash,
    narSize: res.narSize,
    fileHash32,
    fileSize: res.fileSize,
    compression,
    storedBytes: added.storedBytes,
  };
}
