/** The values stored under the keys in `keys.ts`. Plain data, structured-clone safe. */
import type { Compression } from "../compress/mod.ts";

/** One cached store path: the narinfo fields plus bookkeeping. */
export interface NarRecord {
  storePath: string;
  /** `sha256:<nix32>` */
  narHash: string;
  narSize: number;
  /** basenames */
  references: string[];
  deriver?: string;
  sigs: string[];
  ca?: string;
  compression: Compression;
  /** nix32 sha256 of the served (compressed) NAR file; also its name */
  fileHash: string;
  fileSize: number;
  importedAt: number;
  /** Swarm segments chosen at import (`import --segment`); absent: the segment filters decide. */
  segments?: string[];
}

/** One stored NAR file; its chunk list is the manifest file of the same name. */
export interface NarFileRecord {
  /** `sha256:<nix32>` of the plain NAR */
  narHash: string;
  compression: Compression;
  fileSize: number;
  narSize: number;
  chunks: number;
  createdAt: number;
  /** The storage holding its manifest; absent: the cache directory ("local"). */
  manifestAt?: string;
}

/** One pack: its size and where it went; `storage` absent means the cache directory. */
export interface PackRecord {
  size: number;
  createdAt: number;
  storage?: string;
}

/** A sealed pack about to be recorded with the NAR files whose chunks it holds. */
export interface PackPlaced {
  id: string;
  size: number;
  /** Storage name; absent or "local": the cache directory. */
  storage?: string;
}

export interface ChunkLocation {
  pack: string;
  offset: number;
  clen: number;
  ulen: number;
  crc: number;
}

export interface AuditEvent {
  type: "Import" | "Serve" | "Quarantine" | string;
  time: number;
  [field: string]: unknown;
}

/** Store paths whose closures gc keeps; `expiresAt` (ms) ends that, absent means never. */
export interface GcRoot {
  paths: string[];
  createdAt: number;
  expiresAt?: number;
}

/** Work in flight that gc must wait for; void once `expiresAt` passed or `pid` is gone. */
export interface Lease {
  pid: number;
  expiresAt: number;
}
