/**
 * Reads byte ranges out of pack files. Packs are immutable once sealed, so
 * open handles are shared between concurrent requests and reads are
 * positional (no seek state): serving a NAR costs no file open per chunk,
 * usually none at all.
 */
import type { FileHandle } from "node:fs/promises";
import { type CacheLayout, packPath } from "./cache_layout.ts";
import { readAtSync } from "./read_at.ts";

const MAX_OPEN = 64;

/** Where packs are when not all of them are files under the cache dir (`PackPlaces`). */
export interface PackLocator {
  /** The local file of a pack, or undefined when it lives in a remote store. */
  pathOf(packId: string): string | undefined;
  /** Reads a remote pack's bytes. */
  readInto(packId: string, offset: number, buf: Uint8Array): Promise<Uint8Array>;
}

export class PackReader {
  #handles = new Map<string, Promise<FileHandle>>();
  /** Handles for `readIntoSync`: no read is ever in flight on them, so they close at once. */
  #syncFiles = new Map<string, Deno.FsFile>();

  constructor(private layout: CacheLayout, private locator?: PackLocator) {}

  #path(packId: string): string | undefined {
    return this.locator ? this.locator.pathOf(packId) : packPath(this.layout, packId);
  }

  /** True when the pack is a local file (sendfile, synchronous reads). */
  isLocal(packId: string): boolean {
    return this.#path(packId) !== undefined;
  }

  /**
   * Size of a pack on disk, or -1 when it is missing. Not cached: packs never
   * grow, but damage (truncation, deletion) can shrink them, and a stat is
   * cheap (synchronous: a thread hand-off would cost more than the stat).
   */
  size(packId: string): number {
    const path = this.#path(packId);
    if (path === undefined) return -1;
    try {
      return Deno.statSync(path).size;
    } catch {
      return -1;
    }
  }

  /** Reads exactly `length` bytes at `offset`; throws if the pack is shorter. */
  read(packId: string, offset: number, length: number): Promise<Uint8Array> {
    return this.readInto(packId, offset, new Uint8Array(length));
  }

  /** Fills `buf` from `offset` and returns it; throws if the pack is shorter. */
  async readInto(packId: string, offset: number, buf: Uint8Array): Promise<Uint8Array> {
    const path = this.#path(packId);
    if (path === undefined) return await this.locator!.readInto(packId, offset, buf);
    const fh = await this.#handle(packId, path);
    const length = buf.length;
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) {
        throw new RangeError(`pack ${packId} ends at ${offset + got}, wanted ${offset + length}`);
      }
      got += bytesRead;
    }
    return buf;
  }

  /**
   * `readInto` without a thread hand-off: for the importer, which reads many
   * small stored chunks that the page cache nearly always holds.
   */
  readIntoSync(packId: string, offset: number, buf: Uint8Array): Uint8Array {
    let f = this.#syncFiles.get(packId);
    if (f) {
      this.#syncFiles.delete(packId);
    } else {
      const path = this.#path(packId);
      if (path === undefined) throw new RangeError(`pack ${packId} is not a local file`);
      f = Deno.openSync(path);
      if (this.#syncFiles.size >= MAX_OPEN) {
        const [oldest, old] = this.#syncFiles.entries().next().value!;
        this.#syncFiles.delete(oldest);
        old.close();
      }
    }
    this.#syncFiles.set(packId, f);
    const got = readAtSync(f, offset, buf);
    if (got < buf.length) {
      throw new RangeError(`pack ${packId} ends at ${offset + got}, wanted ${offset + buf.length}`);
    }
    return buf;
  }

  #handle(packId: string, path: string): Promise<FileHandle> {
    let h = this.#handles.get(packId);
    if (h) {
      // Move to the back: the Map's order is the LRU order.
      this.#handles.delete(packId);
      this.#handles.set(packId, h);
      return h;
    }
    // node:fs/promises (positional async reads) costs ~25 ms to load: only when first read.
    h = import("node:fs/promises").then((fs) => fs.open(path, "r"));
    h.catch(() => this.#handles.delete(packId));
    this.#handles.set(packId, h);
    if (this.#handles.size > MAX_OPEN) {
      const [oldest, old] = this.#handles.entries().next().value!;
      this.#handles.delete(oldest);
      // Close later: a request may still be reading through it.
      old.then((f) => {
        const t = setTimeout(() => f.close().catch(() => {}), 30_000);
        Deno.unrefTimer(t);
      }).catch(() => {});
    }
    return h;
  }

  /** Forgets a pack (after gc deleted it). */
  forget(packId: string): void {
    this.#syncFiles.get(packId)?.close();
    this.#syncFiles.delete(packId);
    const h = this.#handles.get(packId);
    this.#handles.delete(packId);
    h?.then((f) => f.close()).catch(() => {});
  }

  async close(): Promise<void> {
    for (const f of this.#syncFiles.values()) f.close();
    this.#syncFiles.clear();
    for (const h of this.#handles.values()) await h.then((f) => f.close()).catch(() => {});
    this.#handles.clear();
  }
}
