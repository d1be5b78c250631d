/**
 * The in-memory twin of the blob store port, for unit tests: the same rules
 * as the real stores (the conformance suite runs on it too), plus switches a
 * test can flip: `down` (every call fails as an unreachable server would)
 * and `capacity` (writes beyond it are refused as by a full disk).
 */
import {
  type BlobInfo,
  BlobNotFoundError,
  type BlobStore,
  checkKey,
  type ListOptions,
  type PendingUpload,
  StorageError,
  StorageFullError,
} from "./blob_store.ts";

export class MemoryBlobStore implements BlobStore {
  readonly kind = "memory" as const;
  #objects = new Map<string, { bytes: Uint8Array; mtime: number }>();
  #pending = new Map<string, PendingUpload>();
  /** Every call rejects with `StorageError` while true. */
  down = false;
  /** Bytes it holds at most; undefined: no limit. */
  capacity: number | undefined;
  /** Requests made, by operation (the tests count them). */
  readonly calls = new Map<string, number>();

  constructor(readonly where = "memory") {}

  #op(name: string): void {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
    if (this.down) throw new StorageError(`${this.where}: unreachable`);
  }

  #used(): number {
    let n = 0;
    for (const o of this.#objects.values()) n += o.bytes.length;
    return n;
  }

  put(key: string, data: Uint8Array): Promise<void> {
    try {
      this.#op("put");
      checkKey(key);
      const before = this.#objects.get(key)?.bytes.length ?? 0;
      if (this.capacity !== undefined && this.#used() - before + data.length > this.capacity) {
        throw new StorageFullError(`${this.where}: full (${this.capacity} bytes)`);
      }
      this.#objects.set(key, { bytes: data.slice(), mtime: Date.now() });
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async putStream(key: string, data: ReadableStream<Uint8Array>): Promise<void> {
    this.#op("putStream");
    const id = crypto.randomUUID();
    this.#pending.set(id, { key, id, started: Date.now() });
    const pieces: Uint8Array[] = [];
    try {
      for await (const p of data) pieces.push(p.slice());
    } finally {
      // A failed write is aborted, as S3BlobStore aborts its multipart upload.
      this.#pending.delete(id);
    }
    const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of pieces) (out.set(p, o), o += p.length);
    await this.put(key, out);
  }

  async putFile(key: string, path: string): Promise<void> {
    await this.put(key, await Deno.readFile(path));
    await Deno.remove(path);
  }

  get(key: string): Promise<Uint8Array | undefined> {
    try {
      this.#op("get");
      return Promise.resolve(this.#objects.get(key)?.bytes.slice());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  read(key: string, offset: number, length: number): Promise<ReadableStream<Uint8Array>> {
    try {
      const bytes = this.#slice(key, offset, length);
      return Promise.resolve(
        new ReadableStream({
          start(ctl) {
            if (bytes.length) ctl.enqueue(bytes);
            ctl.close();
          },
        }),
      );
    } catch (e) {
      return Promise.reject(e);
    }
  }

  readInto(key: string, offset: number, buf: Uint8Array): Promise<Uint8Array> {
    try {
      buf.set(this.#slice(key, offset, buf.length));
      return Promise.resolve(buf);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #slice(key: string, offset: number, length: number): Uint8Array {
    this.#op("read");
    const o = this.#objects.get(key);
    if (!o) throw new BlobNotFoundError(this.where, key);
    if (offset + length > o.bytes.length) {
      throw new RangeError(`${key} holds ${o.bytes.length} bytes, not ${offset + length}`);
    }
    return o.bytes.slice(offset, offset + length);
  }

  head(key: string): Promise<BlobInfo | undefined> {
    try {
      this.#op("head");
      const o = this.#objects.get(key);
      return Promise.resolve(o && { key, size: o.bytes.length, mtime: o.mtime });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<BlobInfo> {
    this.#op("list");
    const keys = [...this.#objects.keys()].filter((k) =>
      k.startsWith(prefix) && !(opts.shallow && k.slice(prefix.length).includes("/"))
    ).sort();
    for (const key of keys) {
      const o = this.#objects.get(key);
      if (o) yield { key, size: o.bytes.length, mtime: o.mtime };
    }
  }

  deleteMany(keys: string[]): Promise<void> {
    try {
      this.#op("delete");
      for (const k of keys) this.#objects.delete(k);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async *pendingUploads(prefix: string): AsyncIterable<PendingUpload> {
    this.#op("pendingUploads");
    for (const u of this.#pending.values()) if (u.key.startsWith(prefix)) yield u;
  }

  abortUpload(u: PendingUpload): Promise<void> {
    this.#pending.delete(u.id);
    return Promise.resolve();
  }

  /** Starts an upload that never completes, as a process killed midway leaves one. */
  leavePending(key: string, started = Date.now()): PendingUpload {
    const u = { key, id: crypto.randomUUID(), started };
    this.#pending.set(u.id, u);
    return u;
  }
}
