/**
 * A blob store in a directory: key `packs/<id>.pack` is the file
 * `<root>/packs/<id>.pack`. The default storage of a cache is its own
 * directory, so its layout stays exactly `packs/` and `manifests/`.
 * Writes go to `<tmp>/`, are synced and renamed into place.
 */
import { prepareDirs, tmpName, writeFileAtomic } from "./atomic_file.ts";
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

export class FsBlobStore implements BlobStore {
  readonly kind = "local" as const;
  readonly where: string;

  /** `tmp` must be on the same filesystem as `root` (renames); default `<root>/tmp`. */
  constructor(readonly root: string, readonly tmp = `${root}/tmp`) {
    this.where = root;
  }

  /** Creates the root and tmp directories (tmp leftovers of dead processes are removed). */
  async prepare(): Promise<void> {
    await prepareDirs([this.root], this.tmp);
  }

  localPath(key: string): string {
    return `${this.root}/${checkKey(key)}`;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const path = this.localPath(key);
    await this.#mkParent(path);
    await fsOp(`writing ${path}`, () => writeFileAtomic(this.tmp, path, data));
  }

  async putStream(key: string, data: ReadableStream<Uint8Array>): Promise<void> {
    const path = this.localPath(key);
    const tmp = tmpName(this.tmp);
    try {
      await fsOp(`writing ${path}`, async () => {
        const f = await Deno.open(tmp, { write: true, createNew: true });
        try {
          for await (const piece of data) {
            let o = 0;
            while (o < piece.length) o += await f.write(piece.subarray(o));
          }
          await f.sync();
        } finally {
          f.close();
        }
      });
      await this.#mkParent(path);
      await Deno.rename(tmp, path);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }

  async putFile(key: string, path: string): Promise<void> {
    const dest = this.localPath(key);
    try {
      await this.#mkParent(dest);
      await Deno.rename(path, dest);
    } catch (e) {
      // Another filesystem (a second disk): copy through our own tmp/.
      if ((e as { code?: string }).code !== "EXDEV") throw e;
      const f = await Deno.open(path);
      await this.putStream(key, f.readable);
      await Deno.remove(path);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await Deno.readFile(this.localPath(key));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw new StorageError(`${this.where}: reading ${key}: ${(e as Error).message}`);
    }
  }

  async read(key: string, offset: number, length: number): Promise<ReadableStream<Uint8Array>> {
    const f = await this.#openAt(key, offset, length);
    let left = length;
    return new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: 256 * 1024,
      async pull(ctl) {
        const req = ctl.byobRequest!;
        const v = req.view!;
        const view = new Uint8Array(v.buffer, v.byteOffset, Math.min(v.byteLength, left));
        try {
          const n = left === 0 ? null : await f.read(view);
          if (n === null) {
            f.close();
            if (left > 0) throw new RangeError(`${key} ended ${left} bytes early`);
            ctl.close();
            req.respond(0);
            return;
          }
          left -= n;
          req.respond(n);
          if (left === 0) {
            f.close();
            ctl.close();
          }
        } catch (e) {
          try {
            f.close();
          } catch { /* closed */ }
          throw e;
        }
      },
      cancel() {
        try {
          f.close();
        } catch { /* closed */ }
      },
    });
  }

  async readInto(key: string, offset: number, buf: Uint8Array): Promise<Uint8Array> {
    const f = await this.#openAt(key, offset, buf.length);
    try {
      let got = 0;
      while (got < buf.length) {
        const n = await f.read(buf.subarray(got));
        if (n === null) throw new RangeError(`${key} ends at ${offset + got}`);
        got += n;
      }
      return buf;
    } finally {
      f.close();
    }
  }

  async #openAt(key: string, offset: number, length: number): Promise<Deno.FsFile> {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(this.localPath(key));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new BlobNotFoundError(this.where, key);
      throw new StorageError(`${this.where}: opening ${key}: ${(e as Error).message}`);
    }
    const size = (await f.stat()).size;
    if (offset + length > size) {
      f.close();
      throw new RangeError(`${key} holds ${size} bytes, not ${offset + length}`);
    }
    await f.seek(offset, Deno.SeekMode.Start);
    return f;
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    try {
      const st = await Deno.stat(this.localPath(key));
      return st.isFile ? { key, size: st.size, mtime: st.mtime?.getTime() ?? 0 } : undefined;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw new StorageError(`${this.where}: ${key}: ${(e as Error).message}`);
    }
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<BlobInfo> {
    // Keys are paths: walk the directory the prefix names, in key order.
    const cut = prefix.lastIndexOf("/");
    const dir = cut < 0 ? "" : prefix.slice(0, cut + 1);
    const found: BlobInfo[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(`${this.root}/${rel}`));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return;
        throw e;
      }
      for (const e of entries) {
        const key = rel + e.name;
        // Work in progress is not an object.
        if (key === "tmp") continue;
        if (e.isDirectory) {
          if (opts.shallow && rel === dir && key.startsWith(prefix)) continue;
          if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(`${key}/`);
        } else if (e.isFile && key.startsWith(prefix)) {
          const st = await Deno.stat(`${this.root}/${key}`).catch(() => undefined);
          if (st) found.push({ key, size: st.size, mtime: st.mtime?.getTime() ?? 0 });
        }
      }
    };
    await walk(dir);
    found.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
    yield* found;
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (const k of keys) {
      await Deno.remove(this.localPath(k)).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
  }

  async *pendingUploads(_prefix: string): AsyncIterable<PendingUpload> {
    // Unfinished writes are files under tmp/, removed when the next process starts.
  }

  abortUpload(_u: PendingUpload): Promise<void> {
    return Promise.resolve();
  }

  async #mkParent(path: string): Promise<void> {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  }
}

/** Runs a filesystem write, turning a full disk into `StorageFullError`. */
async function fsOp<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOSPC" || code === "EDQUOT") {
      throw new StorageFullError(`${what}: the disk is full`);
    }
    throw e;
  }
}
