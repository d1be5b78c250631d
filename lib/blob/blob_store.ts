/**
 * The port every place that keeps packs and manifests implements: a flat
 * namespace of immutable objects (`packs/<id>.pack`, `manifests/<fh>.bin`).
 *
 * | implementation | where |
 * |---|---|
 * | `FsBlobStore` | a directory; keys are paths under it (the cache dir itself by default) |
 * | `S3BlobStore` (`lib/s3/`) | a bucket and prefix on any S3 server (AWS, Ceph RGW, MinIO, R2, Garage) |
 * | `MemoryBlobStore` | a Map, for unit tests |
 *
 * Rules every implementation keeps (`tests/blob_conformance_test.ts` runs the
 * same cases against all three, S3 on a real Ceph RGW):
 * - a `put*` is atomic: the key is absent or holds all the bytes, never part;
 *   a crash leaves at most an unnamed temporary or an unfinished multipart
 *   upload (`pendingUploads`), never a short object;
 * - `read` resolves once the store answered, so a missing object or a store
 *   that is down is known before an HTTP response starts; a failure after
 *   that errors the stream (the caller cuts the response, never a short 200);
 * - `list` pages through everything under a prefix in key order.
 */

export interface BlobInfo {
  key: string;
  size: number;
  /** ms since the epoch: when the object was written. */
  mtime: number;
}

/** An upload started and never completed (S3 multipart); `abortUpload` removes its parts. */
export interface PendingUpload {
  key: string;
  id: string;
  /** ms since the epoch */
  started: number;
}

export interface ListOptions {
  pageSize?: number;
  shallow?: boolean;
}

export interface BlobStore {
  /** What the store is, for logs and `status`: a path or `s3://bucket/prefix` (never a secret). */
  readonly where: string;
  readonly kind: "local" | "s3" | "memory";
  /** Writes `data` as `key`, atomically (replaces an existing object). */
  put(key: string, data: Uint8Array): Promise<void>;
  /** Writes a stream of known or unknown length as `key`, atomically (S3: multipart when large). */
  putStream(key: string, data: ReadableStream<Uint8Array>): Promise<void>;
  /**
   * Moves a complete local file (under the cache's tmp/) into the store as
   * `key`, atomically. The file is gone once this resolves; when it
   * rejects, the file is still there (another storage may take it).
   */
  putFile(key: string, path: string): Promise<void>;
  /** The whole object, or undefined when it is absent. */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Bytes [offset, offset + length) as a stream. Rejects with
   * `BlobNotFoundError` when absent and `RangeError` when the object is
   * shorter; the stream errors if the store fails midway.
   */
  read(key: string, offset: number, length: number): Promise<ReadableStream<Uint8Array>>;
  /** Fills `buf` from `offset` of `key` and returns it (same errors as `read`). */
  readInto(key: string, offset: number, buf: Uint8Array): Promise<Uint8Array>;
  head(key: string): Promise<BlobInfo | undefined>;
  /**
   * Every object whose key starts with `prefix`, in key order, `pageSize` per
   * request. `shallow`: only keys with no `/` after the prefix, without
   * walking the "folders" below it (S3: `delimiter=/`).
   */
  list(prefix: string, opts?: ListOptions): AsyncIterable<BlobInfo>;
  /** Deletes the keys (absent ones are fine), in batches. */
  deleteMany(keys: string[]): Promise<void>;
  /** Uploads started under `prefix` and never completed or aborted. */
  pendingUploads(prefix: string): AsyncIterable<PendingUpload>;
  abortUpload(u: PendingUpload): Promise<void>;
  /**
   * The file holding `key` when this store keeps objects as plain files:
   * what lets the local default send packs with sendfile and read them
   * synchronously from the page cache.
   */
  localPath?(key: string): string;
  /** Bytes free where the store writes, when it can tell (a filesystem); undefined otherwise. */
  free?(): Promise<number | undefined>;
}

/** The object does not exist. */
export class BlobNotFoundError extends Error {
  override name = "BlobNotFoundError";
  constructor(readonly where: string, readonly key: string) {
    super(`${where}: no object ${key}`);
  }
}

/** The store cannot take more bytes (ENOSPC, a quota, or its configured `max_size`). */
export class StorageFullError extends Error {
  override name = "StorageFullError";
}

/** The store failed or could not be reached (after retries); says which and how. */
export class StorageError extends Error {
  override name = "StorageError";
}

/** Object keys Arca writes: no empty, `.`/`..` segment, backslash or control character. */
export function checkKey(key: string): string {
  if (
    !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(key) ||
    key.split("/").some((s) => s === "." || s === "..")
  ) {
    throw new TypeError(`Invalid object key: ${JSON.stringify(key)}`);
  }
  return key;
}
