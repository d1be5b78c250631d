/**
 * Appends compressed chunks to a new pack file. A pack is written by one
 * import under `tmp/`, synced, and only then renamed into `packs/`; after
 * that it never changes, so readers need no locks and a crash leaves at most
 * an unreferenced temporary file.
 */
import { type CacheLayout, packPath } from "./cache_layout.ts";
import { tmpName } from "./atomic_file.ts";
import { readAtSync } from "./read_at.ts";

const FLUSH_AT = 1 << 20;
/**
 * Written bytes after which a background fdatasync starts (through a handle
 * of its own, while writing goes on): the sync at `seal` then has only the
 * tail left. A 70 MB pack's seal took ~33 ms, all of it after the last chunk.
 */
const SYNC_EVERY = 8 << 20;

export class PackWriter {
  readonly id = crypto.randomUUID().replaceAll("-", "");
  #file: Deno.FsFile | undefined;
  #tmp: string;
  /** Bytes waiting to be written, copied in at `append` (the caller may free its buffer). */
  #cur: Uint8Array | undefined;
  #curLen = 0;
  /** Pack offset of `#cur[0]`. */
  #curStart = 0;
  /** Buffers handed to the file whose write may not have finished, by pack offset. */
  #flushing: { start: number; bytes: Uint8Array }[] = [];
  /** A read-only handle for `readBack` (the writer's own handle has a position in use). */
  #reader: Deno.FsFile | undefined;
  #size = 0;
  #writing: Promise<void> = Promise.resolve();
  /** Written buffers kept for reuse: a fresh MiB per flush was garbage V8 frees late. */
  #spares: Uint8Array[] = [];
  /** Bytes written since the last background sync started. */
  #unsynced = 0;
  /** The background sync running, if any, and its handle. */
  #syncing: Promise<void> | undefined;
  #syncFile: Deno.FsFile | undefined;

  constructor(private layout: CacheLayout) {
    this.#tmp = tmpName(layout.tmp, ".pack");
  }

  /** Bytes appended so far. */
  get size(): number {
    return this.#size;
  }

  /** Copies `data` in (it may be reused or freed at once) and returns its offset in the pack. */
  async append(data: Uint8Array): Promise<number> {
    const offset = this.#size;
    this.#size += data.length;
    // Errors of this write show up at the next awaited flush or seal.
    if (this.#cur && this.#curLen + data.length > this.#cur.length) this.#flush().catch(() => {});
    if (!this.#cur) {
      const spare = this.#spares.pop();
      this.#cur = spare && spare.length >= data.length
        ? spare
        : new Uint8Array(Math.max(data.length, 2 * FLUSH_AT));
      this.#curStart = offset;
    }
    this.#cur.set(data, this.#curLen);
    this.#curLen += data.length;
    if (this.#curLen >= FLUSH_AT) await this.#flush();
    return offset;
  }

  /**
   * Hands the buffered bytes to the file. Appends from several NARs may
   * interleave (batched imports), so writes are chained: bytes reach the
   * file in the order their offsets were given out.
   */
  #flush(): Promise<void> {
    const all = this.#cur;
    const n = this.#curLen;
    if (!all || n === 0) return this.#writing;
    this.#cur = undefined;
    this.#curLen = 0;
    const flushing = { start: this.#curStart, bytes: all.subarray(0, n) };
    this.#flushing.push(flushing);
    this.#writing = this.#writing.then(async () => {
      this.#file ??= await Deno.open(this.#tmp, { write: true, createNew: true });
      let w = 0;
      while (w < n) w += await this.#file.write(all.subarray(w, n));
      this.#flushing.splice(this.#flushing.indexOf(flushing), 1);
      this.#unsynced += n;
      if (this.#unsynced >= SYNC_EVERY && !this.#syncing) this.#syncAhead();
      if (this.#spares.length < 2 && all.length === 2 * FLUSH_AT) this.#spares.push(all);
    });
    return this.#writing;
  }

  /** Starts an fdatasync of what is written so far; a failure shows at `seal`'s own sync. */
  #syncAhead(): void {
    this.#unsynced = 0;
    this.#syncing = (async () => {
      this.#syncFile ??= await Deno.open(this.#tmp, { read: true });
      await this.#syncFile.syncData();
    })().catch(() => {}).finally(() => this.#syncing = undefined);
  }

  #closeSync(): void {
    try {
      this.#syncFile?.close();
    } catch { /* already closed */ }
    this.#syncFile = undefined;
  }

  /**
   * Copies the bytes of an earlier append (`offset`, `buf.length`) into
   * `buf`, wherever they are now: still buffered, being written, or in the
   * file. Lets a NAR that repeats a chunk reuse its stored bytes instead of
   * compressing it again.
   */
  readBack(offset: number, buf: Uint8Array): Uint8Array {
    const end = offset + buf.length;
    if (end > this.#size) {
      throw new RangeError(`pack ${this.id} holds ${this.#size} bytes, not ${end}`);
    }
    // An append is never split between buffers.
    const held = [
      ...this.#flushing,
      ...(this.#cur ? [{ start: this.#curStart, bytes: this.#cur.subarray(0, this.#curLen) }] : []),
    ].find((b) => offset >= b.start && end <= b.start + b.bytes.length);
    if (held) {
      buf.set(held.bytes.subarray(offset - held.start, end - held.start));
      return buf;
    }
    this.#reader ??= Deno.openSync(this.#tmp);
    if (readAtSync(this.#reader, offset, buf) < buf.length) {
      throw new RangeError(`pack ${this.id} ends before ${end}`);
    }
    return buf;
  }

  /** Syncs and moves the pack into `packs/`. Returns false if nothing was appended. */
  async seal(): Promise<boolean> {
    if (this.#size === 0) {
      this.abort();
      return false;
    }
    await this.sealAs(packPath(this.layout, this.id));
    return true;
  }

  /** Syncs and moves the written bytes to `path` (the filesystem backend's NAR file). */
  async sealAs(path: string): Promise<void> {
    await this.sealWith((tmp) => Deno.rename(tmp, path));
  }

  /**
   * Syncs the pack and hands its complete temporary file to `place` (a
   * rename, or an upload to another storage). Returns false, with nothing
   * placed, if nothing was appended. If `place` fails, the file is removed.
   */
  async sealWith(place: (tmpPath: string, size: number) => Promise<void>): Promise<boolean> {
    if (this.#size === 0) {
      this.abort();
      return false;
    }
    await this.#flush();
    this.#file ??= await Deno.open(this.#tmp, { write: true, createNew: true });
    await this.#syncing;
    this.#closeSync();
    await this.#file.sync();
    this.#file.close();
    this.#file = undefined;
    this.#closeReader();
    try {
      await place(this.#tmp, this.#size);
    } catch (e) {
      await Deno.remove(this.#tmp).catch(() => {});
      throw e;
    }
    return true;
  }

  /** Drops everything written; safe to call more than once. */
  abort(): void {
    this.#closeSync();
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = undefined;
    this.#closeReader();
    this.#cur = undefined;
    this.#curLen = 0;
    try {
      Deno.removeSync(this.#tmp);
    } catch { /* never created */ }
  }

  #closeReader(): void {
    this.#reader?.close();
    this.#reader = undefined;
  }
}
