/**
 * Appends compressed chunks to a new pack file. A pack is written by one
 * import under `tmp/`, synced, and only then renamed into `packs/`; after
 * that it never changes, so readers need no locks and a crash leaves at most
 * an unreferenced temporary file.
 */
import { type CacheLayout, packPath } from "./cache_layout.ts";
import { tmpName } from "./atomic_file.ts";

const FLUSH_AT = 1 << 20;

export class PackWriter {
  readonly id = crypto.randomUUID().replaceAll("-", "");
  #file: Deno.FsFile | undefined;
  #tmp: string;
  #buf: Uint8Array[] = [];
  #buffered = 0;
  #size = 0;

  constructor(private layout: CacheLayout) {
    this.#tmp = tmpName(layout.tmp, ".pack");
  }

  /** Bytes appended so far. */
  get size(): number {
    return this.#size;
  }

  /** Appends `data` and returns its offset in the pack. */
  async append(data: Uint8Array): Promise<number> {
    const offset = this.#size;
    this.#buf.push(data);
    this.#buffered += data.length;
    this.#size += data.length;
    if (this.#buffered >= FLUSH_AT) await this.#flush();
    return offset;
  }

  async #flush(): Promise<void> {
    if (this.#buffered === 0) return;
    this.#file ??= await Deno.open(this.#tmp, { write: true, createNew: true });
    const all = new Uint8Array(this.#buffered);
    let o = 0;
    for (const b of this.#buf) {
      all.set(b, o);
      o += b.length;
    }
    this.#buf = [];
    this.#buffered = 0;
    let w = 0;
    while (w < all.length) w += await this.#file.write(all.subarray(w));
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
    await this.#flush();
    this.#file ??= await Deno.open(this.#tmp, { write: true, createNew: true });
    await this.#file.sync();
    this.#file.close();
    this.#file = undefined;
    await Deno.rename(this.#tmp, path);
  }

  /** Drops everything written; safe to call more than once. */
  abort(): void {
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = undefined;
    this.#buf = [];
    try {
      Deno.removeSync(this.#tmp);
    } catch { /* never created */ }
  }
}
