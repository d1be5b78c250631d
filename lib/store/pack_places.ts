/**
 * Where a kv-backend cache keeps its packs and manifests: one or more blob
 * stores (`StorageSet`), and the record of where each pack went (the
 * `storage` of its KV record; a NAR file's record names its manifest's).
 *
 * ```
 * seal pack ─▶ strategy picks a storage ─▶ putFile (rename | upload) ─▶ recorded with the NAR
 *              └─ it fails or is full ─▶ the next one
 * read chunk ─▶ pack record ─▶ that storage: a local file (sendfile, sync reads) or ranged GETs
 * ```
 * The default cache has one storage, "local": its own directory, where the
 * keys are today's paths (`packs/<id>.pack`, `manifests/<fh>.bin`), so the
 * local path stays as fast and its files exactly where they were.
 */
import type { BlobInfo, PendingUpload } from "../blob/blob_store.ts";
import { FsBlobStore } from "../blob/fs_blob_store.ts";
import type { CacheLayout } from "../blob/cache_layout.ts";
import type { PackWriter } from "../blob/pack_writer.ts";
import { type StorageEntry, StorageSet } from "../blob/storage_set.ts";
import { K } from "../kv/keys.ts";
import type { MetaStore } from "../kv/meta_store.ts";
import type { PackRecord } from "../kv/records.ts";

/** The name of the cache directory's own storage. */
export const LOCAL = "local";

export const packKey = (id: string) => `packs/${id}.pack`;
export const manifestKey = (fh: string) => `manifests/${fh}.bin`;

/** One object of the cache as gc lists it, with the storage holding it. */
export interface PlacedObject extends BlobInfo {
  storage: string;
}

export class PackPlaces {
  #where = new Map<string, string>();
  readonly local: StorageEntry;
  /** True when the cache dir is the only storage: every pack is a local file there. */
  readonly localOnly: boolean;

  private constructor(readonly set: StorageSet, readonly meta: MetaStore) {
    this.local = set.get(LOCAL)!;
    this.localOnly = set.all().length === 1;
  }

  /** The cache directory as the only storage: today's layout. */
  static localSet(layout: CacheLayout): StorageSet {
    return new StorageSet([{ name: LOCAL, store: new FsBlobStore(layout.root, layout.tmp) }]);
  }

  /** The cache directory as the only storage, without reading KV (it has nothing to load). */
  static local(layout: CacheLayout, meta: MetaStore): PackPlaces {
    return new PackPlaces(PackPlaces.localSet(layout), meta);
  }

  /**
   * Loads where every pack is (and each storage's usage) from KV. `set`
   * must contain the "local" storage (the cache dir), as readable at least.
   */
  static async open(set: StorageSet, meta: MetaStore): Promise<PackPlaces> {
    if (!set.get(LOCAL)) throw new RangeError(`the storage set lacks "${LOCAL}"`);
    const p = new PackPlaces(set, meta);
    if (!p.localOnly) {
      const usage = new Map<string, number>();
      for await (const [key, rec] of meta.scan<PackRecord>(K.packPrefix)) {
        const s = rec.storage ?? LOCAL;
        p.#where.set(String(key[1]), s);
        usage.set(s, (usage.get(s) ?? 0) + rec.size);
      }
      for (const e of set.all()) set.setUsage(e.name, usage.get(e.name) ?? 0);
    }
    return p;
  }

  /** The storage a pack was recorded in (KV read when this process has not seen it). */
  async storageOf(packId: string): Promise<StorageEntry | undefined> {
    if (this.localOnly) return this.local;
    let name = this.#where.get(packId);
    if (name === undefined) {
      const rec = await this.meta.getPack(packId);
      // No record: sealed and not yet recorded, which only this process can read.
      name = rec ? (rec.storage ?? LOCAL) : LOCAL;
      if (rec) this.#where.set(packId, name);
    }
    return this.set.get(name);
  }

  /** Learns the places of `packIds` this process has not seen (before `pathOf`). */
  async resolve(packIds: Iterable<string>): Promise<void> {
    if (this.localOnly) return;
    for (const id of packIds) if (!this.#where.has(id)) await this.storageOf(id);
  }

  /**
   * The local file holding a pack, or undefined when its storage is not a
   * directory (S3) or its place is not known yet (`resolve` first).
   */
  pathOf(packId: string): string | undefined {
    if (this.localOnly) return this.local.store.localPath!(packKey(packId));
    const name = this.#where.get(packId) ?? LOCAL;
    return this.set.get(name)?.store.localPath?.(packKey(packId));
  }

  /** The name of the storage a pack is known to be in (after `resolve`). */
  placeOf(packId: string): string {
    return this.localOnly ? LOCAL : this.#where.get(packId) ?? LOCAL;
  }

  /**
   * Seals `w` into the first storage of the strategy's order that takes it.
   * Returns the storage's name, or undefined if the pack was empty.
   */
  async sealPack(w: PackWriter): Promise<string | undefined> {
    let placed: string | undefined;
    const ok = await w.sealWith(async (tmp, size) => {
      placed = await this.#tryEach(size, (e) => e.store.putFile(packKey(w.id), tmp));
    });
    if (!ok || placed === undefined) return undefined;
    this.#where.set(w.id, placed);
    this.set.added(placed, w.size);
    return placed;
  }

  /** Writes a manifest, in `prefer` if it takes it (the NAR's pack's storage); returns where. */
  putManifest(fh: string, bytes: Uint8Array, prefer?: string): Promise<string> {
    return this.#tryEach(bytes.length, (e) => e.store.put(manifestKey(fh), bytes), prefer);
  }

  /**
   * A manifest's bytes from `at` (its record's storage), else from any
   * storage; undefined when none has it. Rejects (`StorageError`) when it is
   * nowhere to be found and a storage failed: it may be there, unreachable.
   */
  async getManifest(fh: string, at = LOCAL): Promise<Uint8Array | undefined> {
    const first = this.set.get(at);
    const order = first ? [first, ...this.set.all().filter((e) => e !== first)] : this.set.all();
    let failure: unknown;
    for (const e of order) {
      try {
        const b = await e.store.get(manifestKey(fh));
        if (b) return b;
      } catch (err) {
        failure ??= err;
      }
      if (this.localOnly) break;
    }
    if (failure) throw failure;
    return undefined;
  }

  /** Bytes of a pack as a stream, from wherever it is. */
  async read(packId: string, offset: number, length: number): Promise<ReadableStream<Uint8Array>> {
    const e = await this.#entry(packId);
    return await e.store.read(packKey(packId), offset, length);
  }

  async readInto(packId: string, offset: number, buf: Uint8Array): Promise<Uint8Array> {
    const e = await this.#entry(packId);
    return await e.store.readInto(packKey(packId), offset, buf);
  }

  async #entry(packId: string): Promise<StorageEntry> {
    const e = await this.storageOf(packId);
    if (!e) throw new RangeError(`pack ${packId} is in a storage that is not configured`);
    return e;
  }

  /** Every object under `packs/` or `manifests/` of every storage. */
  async list(dir: "packs/" | "manifests/"): Promise<PlacedObject[]> {
    const out: PlacedObject[] = [];
    for (const e of this.set.all()) {
      for await (const o of e.store.list(dir)) out.push({ ...o, storage: e.name });
    }
    return out;
  }

  /** Deletes packs (by id, with the storage each is in); usage goes down. */
  async deletePacks(packs: { id: string; storage: string; size: number }[]): Promise<void> {
    const by = Map.groupBy(packs, (p) => p.storage);
    for (const [name, list] of by) {
      const e = this.set.get(name);
      if (!e) continue;
      await e.store.deleteMany(list.map((p) => packKey(p.id)));
      for (const p of list) {
        this.#where.delete(p.id);
        this.set.added(name, -p.size);
      }
    }
  }

  /** Uploads under packs/ or manifests/ that never completed, by storage. */
  async pendingUploads(): Promise<{ storage: StorageEntry; upload: PendingUpload }[]> {
    const out: { storage: StorageEntry; upload: PendingUpload }[] = [];
    for (const e of this.set.all()) {
      for (const dir of ["packs/", "manifests/"]) {
        for await (const u of e.store.pendingUploads(dir)) out.push({ storage: e, upload: u });
      }
    }
    return out;
  }

  /** Runs `write` on each storage in the strategy's order until one succeeds; its name. */
  async #tryEach(
    bytes: number,
    write: (e: StorageEntry) => Promise<void>,
    prefer?: string,
  ): Promise<string> {
    let order = this.set.order(bytes);
    const p = prefer && order.find((e) => e.name === prefer);
    if (p) order = [p, ...order.filter((e) => e !== p)];
    let last: unknown;
    for (const e of order) {
      try {
        await write(e);
        return e.name;
      } catch (err) {
        last = err;
        this.set.failed(e.name, err);
        if (order.length > 1) {
          console.error(
            `arca: storage ${e.name} (${e.store.where}) refused a write: ${(err as Error).message}`,
          );
        }
      }
    }
    throw last;
  }
}
