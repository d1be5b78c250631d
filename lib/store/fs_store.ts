/**
 * The filesystem backend: the flat layout `nix copy --to file://` writes
 * (`<hash>.narinfo`, `nar/<fileHash>.nar.zst`), so nginx could serve the
 * directory as it is. No cross-NAR dedup: each NAR file is whole. The files
 * are in the cache directory or, with an s3 storage, in a bucket
 * (`FlatFiles`); the audit log, access times and roots stay in Deno KV.
 */
import { encodeNix32 } from "../encoding/mod.ts";
import type { Hash } from "../hash/mod.ts";
import { formatCacheInfo, formatNarinfo, type NarInfo, parseNarinfo } from "../narinfo/mod.ts";
import { isValidHashPart, parseStorePath } from "../store_path/mod.ts";
import type { CacheLayout } from "../blob/cache_layout.ts";
import { prepareDirs } from "../blob/atomic_file.ts";
import { FileBody } from "../blob/file_body.ts";
import { MetaStore } from "../kv/meta_store.ts";
import type { AuditEvent } from "../kv/records.ts";
import { closeIngest, ingestChunks } from "./ingest_chunks.ts";
import { narFileName, parseNarFileName } from "./nar_file_name.ts";
import {
  type ImportResult,
  MissingReferencesError,
  type NarBody,
  NarFileGoneError,
  type PathMeta,
  type PublishOptions,
  type Store,
  type StoredNar,
  type StoreNarOptions,
  type StoreStatus,
} from "./store.ts";
import { buildNarinfo, checkExpected, missingReferences } from "./publish_helpers.ts";
import { findStoredNar, recordStoredNar } from "./stored_nar.ts";
import { type FlatFiles, LocalFlatFiles, NARINFO_READ_AHEAD, narinfoName } from "./flat_files.ts";
import { readAhead } from "./read_ahead.ts";

const noop = () => Promise.resolve();

export class FsStore implements Store {
  readonly backend = "filesystem" as const;
  readonly sideFiles?: FlatFiles;

  private constructor(
    readonly layout: CacheLayout,
    readonly meta: MetaStore,
    readonly files: FlatFiles,
    readonly storageName: string,
  ) {
    // In a bucket, logs and listings sit next to the narinfos, as the flat layout has them.
    if (files.kind !== "local") this.sideFiles = files;
  }

  /**
   * `files`: where the layout lives (default: the cache directory), named
   * `storageName` in `status`. A bucket gets a `nix-cache-info` when it has
   * none, so it is a binary cache by itself (`storeDir` and `priority` go in it).
   */
  static async open(
    layout: CacheLayout,
    opts: { files?: FlatFiles; storageName?: string; storeDir?: string; priority?: number } = {},
  ): Promise<FsStore> {
    const files = opts.files ?? new LocalFlatFiles(layout.root, layout.tmp);
    await prepareDirs([layout.root, layout.logs], layout.tmp);
    await files.prepare();
    if (files.kind !== "local" && !(await files.stat("nix-cache-info"))) {
      const storeDir = opts.storeDir ?? "/nix/store";
      const priority = opts.priority ?? 40;
      await files.writeText(
        "nix-cache-info",
        formatCacheInfo({ storeDir, wantMassQuery: true, priority }),
      );
    }
    const meta = await MetaStore.open(layout.db);
    return new FsStore(layout, meta, files, opts.storageName ?? "local");
  }

  async getNarinfo(hashPart: string): Promise<NarInfo | undefined> {
    if (!isValidHashPart(hashPart)) return undefined;
    const text = await this.files.readText(narinfoName(hashPart)).catch((e) => {
      this.#unreadable(e);
      return undefined;
    });
    return text === undefined ? undefined : parseNarinfo(text);
  }

  #saidAt = 0;

  /** A store that cannot be read (a bucket down) answers misses: said at most every 10 s. */
  #unreadable(e: unknown): void {
    const now = Date.now();
    if (now - this.#saidAt < 10_000) return;
    this.#saidAt = now;
    console.error(
      `arca: ${this.files.where}: narinfos cannot be read now (answered as misses): ` +
        (e as Error).message,
    );
  }

  async *list(): AsyncIterable<NarInfo> {
    // In listing order, NARINFO_READ_AHEAD GETs at a time.
    const read = (f: { name: string }) => this.getNarinfo(f.name.slice(0, -8));
    for await (const info of readAhead(this.files.narinfos(), NARINFO_READ_AHEAD, read)) {
      if (info) yield info;
    }
  }

  async findNar(narHash: Hash): Promise<StoredNar | undefined> {
    const found = await findStoredNar(this.meta, narHash);
    if (!found) return undefined;
    const name = narFileName(found.fileHash32, found.compression);
    return (await this.files.stat(`nar/${name}`)) ? found : undefined;
  }

  async storeNar(nar: ReadableStream<Uint8Array>, opts: StoreNarOptions): Promise<StoredNar> {
    const res = await ingestChunks(nar, { layout: this.layout }, opts);
    const narHash = { algo: "sha256" as const, digest: res.narHash };
    if (opts.expect) checkExpected(opts.expect, narHash, res.narSize, res.pack);
    const fileHash32 = encodeNix32(res.fileHash);
    const name = `nar/${narFileName(fileHash32, opts.compression)}`;
    // Complete under its name (S3: the multipart upload completed, its size checked) before
    // any narinfo can name it.
    await res.pack.sealWith((tmp) => this.files.putFile(name, tmp));
    return await recordStoredNar(this.meta, res, opts.compression, {
      newChunks: 0,
      storedBytes: res.fileSize,
    });
  }

  async publish(meta: PathMeta, stored: StoredNar, opts: PublishOptions): Promise<ImportResult> {
    const sp = parseStorePath(meta.storePath);
    const existing = await this.getNarinfo(sp.hashPart);
    if (existing) return { status: "exists", narinfo: existing, storedBytes: 0 };
    const missing = await missingReferences(this, meta);
    if (missing.length) throw new MissingReferencesError(meta.storePath, missing);
    // A NAR stored a while ago (an upload's) may have been collected since.
    if (!(await this.files.stat(`nar/${narFileName(stored.fileHash32, stored.compression)}`))) {
      throw new NarFileGoneError(meta.storePath, stored.fileHash32);
    }
    const info = buildNarinfo(meta, stored, opts.keys);
    // The narinfo goes last: its existence means the NAR and the references are there.
    await this.files.writeText(narinfoName(sp.hashPart), formatNarinfo(info));
    await this.meta.appendAudit([{
      type: opts.event ?? "Import",
      time: Date.now(),
      path: meta.storePath,
      narSize: stored.narSize,
      fileSize: stored.fileSize,
      storedBytes: stored.storedBytes,
    }]);
    return { status: "imported", narinfo: info, storedBytes: stored.storedBytes };
  }

  async openNar(name: string): Promise<NarBody | undefined> {
    const parsed = parseNarFileName(name);
    if (!parsed) return undefined;
    const st = await this.files.stat(`nar/${name}`).catch(() => undefined);
    if (!st) return undefined;
    const files = this.files;
    if (!files.localPath) {
      return {
        size: st.size,
        compression: parsed.compression,
        body: () => {
          throw new TypeError(`${files.where}: nar/${name} is not a local file`);
        },
        // A ranged GET, made before the response starts; a failure later cuts the connection.
        open: (start, end) => files.read(`nar/${name}`, start, end),
      };
    }
    const path = files.localPath(`nar/${name}`);
    return {
      size: st.size,
      compression: parsed.compression,
      // A short file is found by `verify`; serving it just ends the transfer.
      body: (start, end) => new FileBody([{ path, offset: start, length: end - start }], noop),
    };
  }

  async quarantine(fileHash32: string, reason: string): Promise<string[]> {
    const hit: string[] = [];
    for await (const info of this.list()) {
      if (!info.url.includes(fileHash32)) continue;
      const hashPart = parseStorePath(info.storePath).hashPart;
      await this.files.remove([narinfoName(hashPart)]).catch(() => {});
      hit.push(info.storePath);
    }
    await this.meta.appendAudit([{ type: "Quarantine", time: Date.now(), paths: hit, reason }]);
    return hit;
  }

  audit(events: AuditEvent[]): Promise<void> {
    return this.meta.appendAudit(events);
  }

  auditLog(sinceMs: number): AsyncIterable<AuditEvent> {
    return this.meta.listAudit(sinceMs);
  }

  async status(): Promise<StoreStatus> {
    let paths = 0, narBytes = 0, fileBytes = 0;
    for await (const info of this.list()) {
      paths++;
      narBytes += info.narSize;
    }
    let nars = 0;
    for await (const f of this.files.nars()) {
      fileBytes += f.size;
      nars++;
    }
    const status: StoreStatus = {
      backend: "filesystem",
      paths,
      narBytes,
      fileBytes,
      storedBytes: fileBytes,
      chunks: 0,
    };
    if (this.files.kind !== "local" || this.storageName !== "local") {
      // `packs` counts the NAR files here: the flat layout has no packs.
      status.storages = [{
        name: this.storageName,
        kind: this.files.kind,
        where: this.files.where,
        bytes: fileBytes,
        packs: nars,
        writable: true,
      }];
    }
    return status;
  }

  close(): Promise<void> {
    closeIngest();
    this.meta.close();
    return Promise.resolve();
  }
}
