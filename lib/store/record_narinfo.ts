/** Conversions between the KV record of a path and the narinfo Nix reads. */
import { decodeNix32 } from "../encoding/mod.ts";
import { formatHash, parseHash } from "../hash/mod.ts";
import type { NarInfo } from "../narinfo/mod.ts";
import type { NarRecord } from "../kv/records.ts";
import { narFileName } from "./nar_file_name.ts";

export function recordToNarinfo(r: NarRecord): NarInfo {
  return {
    storePath: r.storePath,
    url: `nar/${narFileName(r.fileHash, r.compression)}`,
    compression: r.compression,
    fileHash: { algo: "sha256", digest: decodeNix32(r.fileHash) },
    fileSize: r.fileSize,
    narHash: parseHash(r.narHash),
    narSize: r.narSize,
    references: r.references,
    deriver: r.deriver,
    sigs: r.sigs,
    ca: r.ca,
  };
}

/** `r` with the segments chosen at import, when there are any. */
export function withSegments(r: NarRecord, segments: string[] | undefined): NarRecord {
  if (segments?.length) r.segments = [...segments];
  return r;
}

export function narinfoToRecord(n: NarInfo, fileHash32: string, importedAt: number): NarRecord {
  const rec: NarRecord = {
    storePath: n.storePath,
    narHash: formatHash(n.narHash),
    narSize: n.narSize,
    references: n.references,
    sigs: n.sigs,
    compression: n.compression as NarRecord["compression"],
    fileHash: fileHash32,
    fileSize: n.fileSize ?? 0,
    importedAt,
  };
  if (n.deriver) rec.deriver = n.deriver;
  if (n.ca) rec.ca = n.ca;
  return rec;
}
