/**
 * What the commands and the HTTP server need from a cache, whatever keeps
 * it: `KvStore` (dedup chunks in packs, metadata in Deno KV) or `FsStore`
 * (the flat `nix copy --to file://` layout).
 */
import type { FileBody } from "../blob/file_body.ts";
import type { Compression } from "../compress/mod.ts";
import type { Hash } from "../hash/mod.ts";
import type { PathMeta } from "../narinfo/path_meta.ts";
import type { AuditEvent } from "../kv/records.ts";
import type { NarInfo } from "../narinfo/mod.ts";
import type { SecretKey } from "../sign/mod.ts";
import type { FlatFiles } from "./flat_files.ts";

export type { PathMeta };

export interface StoreNarOptions {
  compression: Compression;
  level: number;
  /**
   * When given, the NAR must hash to this (refused otherwise, nothing kept).
   * `source` names who claimed it in the refusal, e.g. "Nix recorded".
   */
  expect?: { narHash: Hash; narSize: number; what: string; source: string };
  onProgress?: (narBytes: number) => void;
  /** Hash and compress on this thread instead of the pool's workers (small imports). */
  inline?: boolean;
}

/** A NAR held by the store, whether or not a path refers to it yet. */
export interface StoredNar {
  narHash: Hash;
  narSize: number;
  fileHash32: string;
  fileSize: number;
  compression: Compression;
  /** Bytes storing it added (0 when it was already there). */
  storedBytes: number;
}

export interface PublishOptions {
  /** Signs with each; existing signatures from other keys are kept. */
  keys: SecretKey[];
  /** Audit event type: `Import` (default) or `Upload`. */
  event?: string;
  /** Swarm segments the path is shared on (`import --segment`); default: the filters decide. */
  segments?: string[];
  /** More fields for the path's audit event (e.g. where a fetched NAR came from). */
  auditFields?: Record<string, unknown>;
}

export interface ImportResult {
  status: "imported" | "exists";
  narinfo: NarInfo;
  /** Bytes this import added to storage (after dedup and compression). */
  storedBytes: number;
}

export interface StoreStatus {
  backend: "kv" | "filesystem";
  paths: number;
  narBytes: number;
  fileBytes: number;
  storedBytes: number;
  chunks: number;
  /** Usage per storage, when the cache has storages besides its own directory. */
  storages?: StorageStatus[];
}

/** One storage of a cache as `status` shows it. */
export interface StorageStatus {
  name: string;
  kind: "local" | "s3" | "memory";
  /** A path or `s3://bucket/prefix`. */
  where: string;
  /** Bytes of the packs it holds (pack records). */
  bytes: number;
  packs: number;
  maxBytes?: number;
  /** New packs may go there (it is in the cache's `storages`). */
  writable: boolean;
  /** Why writes skip it now (full, or its last error). */
  skipped?: string;
}

/** A NAR file ready to be served: everything it needs was checked to exist. */
export interface NarBody {
  size: number;
  compression: Compression;
  /**
   * Bytes [start, end) of the file as parts of files on disk, opened now
   * (throws if one is gone, or if the NAR's packs are not all local files:
   * use `open`). Sending it fails on damaged data.
   */
  body(start: number, end: number): FileBody;
  /**
   * The same bytes from wherever they are: a `FileBody` when local, else (S3)
   * a stream that resolves once its first bytes can be read (rejects
   * otherwise) and errors if the store fails midway. Absent: use `body`.
   */
  open?(start: number, end: number): Promise<FileBody | ReadableStream<Uint8Array>>;
  /**
   * A NAR in local files: the whole file's parts (`[path, offset, length]`)
   * and until when (epoch ms) the checks just made stand, so the HTTP front
   * may send it by itself until then; `onShort` takes it out of service when
   * a part turns out short.
   */
  share?: {
    parts: [string, number, number][];
    until: number;
    onShort(message: string): Promise<void>;
  };
}

export interface Store {
  readonly backend: "kv" | "filesystem";
  /**
   * Where build logs (`log/<drv>`) and NAR listings (`<hash>.ls`) go when not
   * under the cache directory: the bucket of a filesystem backend on S3.
   */
  readonly sideFiles?: FlatFiles;
  getNarinfo(hashPart: string): Promise<NarInfo | undefined>;
  list(): AsyncIterable<NarInfo>;
  /** Stores a NAR (chunks, compression, FileHash) without publishing any path. */
  storeNar(nar: ReadableStream<Uint8Array>, opts: StoreNarOptions): Promise<StoredNar>;
  /** A stored NAR with this NarHash, if any (uploads skip storing it again). */
  findNar(narHash: Hash): Promise<StoredNar | undefined>;
  /**
   * Publishes a path whose NAR is stored. Refuses when a reference is not
   * published yet (the closure invariant); "exists" when the path already is.
   */
  publish(meta: PathMeta, stored: StoredNar, opts: PublishOptions): Promise<ImportResult>;
  /** `name` is the file name under `nar/`, e.g. `<fileHash32>.nar.zst`; undefined when absent. */
  openNar(name: string): Promise<NarBody | undefined>;
  /** Takes every path whose NAR is file `fileHash32` out of service. */
  quarantine(fileHash32: string, reason: string): Promise<string[]>;
  status(): Promise<StoreStatus>;
  /** Calls `onChange` when another process changes the cache (kv backend); resolves on abort. */
  follow?(signal: AbortSignal, onChange: () => void): Promise<void>;
  /** Paths added (`add`) or removed (`del`) at or after `ms` (kv backend). */
  changes?(ms: number): AsyncIterable<{ ms: number; hashPart: string; op: string }>;
  audit(events: AuditEvent[]): Promise<void>;
  auditLog(sinceMs: number): AsyncIterable<AuditEvent>;
  close(): Promise<void>;
}

export class MissingReferencesError extends Error {
  override name = "MissingReferencesError";
  constructor(readonly storePath: string, readonly missing: string[]) {
    super(
      `cannot import ${storePath}: its references are not in the cache yet: ${missing.join(", ")}` +
        ` (use 'arca import-closure')`,
    );
  }
}

/** The NAR file a path was to be published with was collected (gc) after it was stored. */
export class NarFileGoneError extends Error {
  override name = "NarFileGoneError";
  constructor(readonly storePath: string, fileHash32: string) {
    super(
      `cannot publish ${storePath}: its NAR file ${fileHash32} was collected meanwhile` +
        ` (store or upload it again)`,
    );
  }
}

export class HashMismatchError extends Error {
  override name = "HashMismatchError";
}
