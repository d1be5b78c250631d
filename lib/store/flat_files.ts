/**
 * Where the filesystem backend keeps its files: the flat layout
 * `nix copy --to file://` writes (`<hash>.narinfo`, `nar/<fileHash>.nar.zst`,
 * `nix-cache-info`), by name relative to the cache's root. The store, gc,
 * verify and `sign` reach those files only through this port.
 *
 * | implementation | where |
 * |---|---|
 * | `LocalFlatFiles` | a directory (the cache dir by default): renames from `tmp/`, sendfile when served |
 * | `BlobFlatFiles` | any `BlobStore`, in practice an S3 bucket and prefix (`S3BlobStore`) |
 *
 * Both keep the rules of `BlobStore`: a write is atomic (the name is absent
 * or holds all the bytes), and `read` resolves only once the first bytes can
 * come, erroring the stream if the store fails midway.
 */
import { prepareDirs, writeFileAtomic } from "../blob/atomic_file.ts";
import { FsBlobStore } from "../blob/fs_blob_store.ts";
import { type BlobStore, type PendingUpload, StorageError } from "../blob/blob_store.ts";
import { BUCKET_LOG_PREFIX } from "./side_file_names.ts";

/** One file of the layout: `name` is relative to the root (`nar/<file>`, `<hash>.narinfo`). */
export interface FlatFile {
  name: string;
  size: number;
  /** ms since the epoch: when it was written. */
  mtime: number;
}

export interface FlatFiles {
  readonly kind: "local" | "s3" | "memory";
  /** A path or `s3://bucket/prefix` (never a secret). */
  readonly where: string;
  /** Creates what must exist before the first write (directories). */
  prepare(): Promise<void>;
  /** The file's text; undefined when absent (other failures throw). */
  readText(name: string): Promise<string | undefined>;
  /** The file's bytes; undefined when absent (other failures throw). */
  readBytes(name: string): Promise<Uint8Array<ArrayBuffer> | undefined>;
  stat(name: string): Promise<FlatFile | undefined>;
  /** Writes `text` (or bytes) as `name`, atomically (replaces the file). */
  writeText(name: string, text: string | Uint8Array): Promise<void>;
  /**
   * Moves a complete local file (under the cache's tmp/) in as `name`,
   * atomically: once this resolves the file is complete under its name.
   */
  putFile(name: string, tmpPath: string): Promise<void>;
  /** Deletes the files (absent ones are fine); returns those it deleted, as far as it can tell. */
  remove(names: string[]): Promise<string[]>;
  /** Every `<hash>.narinfo` at the root. */
  narinfos(): AsyncIterable<FlatFile>;
  /** Every file under `nar/`. */
  nars(): AsyncIterable<FlatFile>;
  /** Build logs (`log/<drv>`) and NAR listings (`<hash>.ls`), when kept here (a bucket). */
  logsAndListings?(): AsyncIterable<FlatFile>;
  /** Bytes [start, end) of `name` (`BlobNotFoundError` when absent, `RangeError` when shorter). */
  read(name: string, start: number, end: number): Promise<ReadableStream<Uint8Array>>;
  /** The file's path when files are plain local files (served with sendfile). */
  localPath?(name: string): string;
  /** Uploads started under `nar/` and never completed (S3 multipart). */
  pendingUploads?(): AsyncIterable<PendingUpload>;
  abortUpload?(u: PendingUpload): Promise<void>;
}

/** Narinfos read at a time (list, gc, verify): a bucket answers GETs in parallel. */
export const NARINFO_READ_AHEAD = 16;

/** `<hash32>.narinfo` (nix32 alphabet), the only names at the root that are narinfos. */
const NARINFO = /^[0-9a-df-np-sv-z]{32}\.narinfo$/;

const LISTING = /^[0-9a-df-np-sv-z]{32}\.ls$/;

export function narinfoName(hashPart: string): string {
  return `${hashPart}.narinfo`;
}

/** The layout in a directory: today's files under the cache dir, written through `tmp/`. */
export class LocalFlatFiles implements FlatFiles {
  readonly kind = "local" as const;
  readonly where: string;
  /** The same directory as a blob store: its ranged reads and its atomic moves (across disks too). */
  readonly #blobs: FsBlobStore;

  constructor(readonly root: string, readonly tmp = `${root}/tmp`) {
    this.where = root;
    this.#blobs = new FsBlobStore(root, tmp);
  }

  async prepare(): Promise<void> {
    await prepareDirs([this.root, `${this.root}/nar`], this.tmp);
  }

  localPath(name: string): string {
    return `${this.root}/${name}`;
  }

  async readText(name: string): Promise<string | undefined> {
    try {
      return await Deno.readTextFile(this.localPath(name));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async readBytes(name: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
    try {
      return await Deno.readFile(this.localPath(name));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async stat(name: string): Promise<FlatFile | undefined> {
    try {
      const st = await Deno.stat(this.localPath(name));
      return st.isFile ? { name, size: st.size, mtime: st.mtime?.getTime() ?? 0 } : undefined;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  writeText(name: string, text: string | Uint8Array): Promise<void> {
    return writeFileAtomic(this.tmp, this.localPath(name), text);
  }

  putFile(name: string, tmpPath: string): Promise<void> {
    return this.#blobs.putFile(name, tmpPath);
  }

  async remove(names: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const n of names) {
      try {
        await Deno.remove(this.localPath(n));
        out.push(n);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    return out;
  }

  async *narinfos(): AsyncIterable<FlatFile> {
    for await (const e of Deno.readDir(this.root)) {
      if (!e.isFile || !NARINFO.test(e.name)) continue;
      const st = await this.stat(e.name);
      if (st) yield st;
    }
  }

  async *nars(): AsyncIterable<FlatFile> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(`${this.root}/nar`));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      if (!e.isFile) continue;
      const st = await this.stat(`nar/${e.name}`);
      if (st) yield st;
    }
  }

  read(name: string, start: number, end: number): Promise<ReadableStream<Uint8Array>> {
    return this.#blobs.read(name, start, end - start);
  }
}

/**
 * The layout as objects of a blob store (an S3 bucket under its prefix):
 * keys are the names, so the bucket is itself a Nix binary cache. A NAR
 * above 16 MiB goes up as a multipart upload, visible only once complete.
 */
export class BlobFlatFiles implements FlatFiles {
  readonly kind: "local" | "s3" | "memory";
  readonly where: string;

  constructor(readonly blobs: BlobStore) {
    this.kind = blobs.kind;
    this.where = blobs.where;
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  async readText(name: string): Promise<string | undefined> {
    const bytes = await this.blobs.get(name);
    return bytes && new TextDecoder().decode(bytes);
  }

  async readBytes(name: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
    const bytes = await this.blobs.get(name);
    return bytes && new Uint8Array(bytes);
  }

  async stat(name: string): Promise<FlatFile | undefined> {
    const h = await this.blobs.head(name);
    return h && { name, size: h.size, mtime: h.mtime };
  }

  writeText(name: string, text: string | Uint8Array): Promise<void> {
    return this.blobs.put(name, typeof text === "string" ? new TextEncoder().encode(text) : text);
  }

  putFile(name: string, tmpPath: string): Promise<void> {
    return this.blobs.putFile(name, tmpPath);
  }

  async remove(names: string[]): Promise<string[]> {
    // DeleteObjects does not tell absent keys from deleted ones.
    await this.blobs.deleteMany(names);
    return names;
  }

  narinfos(): AsyncIterable<FlatFile> {
    return this.#topLevel(NARINFO);
  }

  async *logsAndListings(): AsyncIterable<FlatFile> {
    yield* this.#topLevel(LISTING);
    for await (const o of this.blobs.list(BUCKET_LOG_PREFIX)) {
      yield { name: o.key, size: o.size, mtime: o.mtime };
    }
  }

  async *#topLevel(names: RegExp): AsyncIterable<FlatFile> {
    // Only the top level: `nar/`, `log/` and other caches' `caches/<name>/` are not walked.
    for await (const o of this.blobs.list("", { shallow: true })) {
      if (names.test(o.key)) yield { name: o.key, size: o.size, mtime: o.mtime };
    }
  }

  async *nars(): AsyncIterable<FlatFile> {
    for await (const o of this.blobs.list("nar/")) {
      yield { name: o.key, size: o.size, mtime: o.mtime };
    }
  }

  read(name: string, start: number, end: number): Promise<ReadableStream<Uint8Array>> {
    return this.blobs.read(name, start, end - start);
  }

  pendingUploads(): AsyncIterable<PendingUpload> {
    return this.blobs.pendingUploads("nar/");
  }

  abortUpload(u: PendingUpload): Promise<void> {
    return this.blobs.abortUpload(u);
  }
}

/** A failure of the store itself (not a missing file): gc must stop rather than guess. */
export function isStoreFailure(e: unknown): boolean {
  return e instanceof StorageError;
}
