/**
 * The filesystem backend: the flat layout `nix copy --to file://` writes
 * (`<hash>.narinfo`, `nar/<fileHash>.nar.zst`), so nginx could serve the
 * directory as it is. No cross-NAR dedup: each NAR file is whole. The audit
 * log still goes to Deno KV.
 */
import { encodeNix32 } from "../encoding/mod.ts";
import type { Hash } from "../hash/mod.ts";
import { formatNarinfo, type NarInfo, parseNarinfo } from "../narinfo/mod.ts";
import { isValidHashPart, parseStorePath } from "../store_path/mod.ts";
import type { CacheLayout } from "../blob/cache_layout.ts";
import { prepareDirs, writeFileAtomic } from "../blob/atomic_file.ts";
import { FileBody } from "../blob/file_body.ts";
import { MetaStore } from "../kv/meta_store.ts";
import type { AuditEvent } from "../kv/records.ts";
import { closeIngest, ingestChunks } from "./ingest_chunks.ts";
import { narFileName, parseNarFileName } from "./nar_file_name.ts";
import {
  type ImportResult,
  MissingReferencesError,
  type NarBody,
  type PathMeta,
  type PublishOptions,
  type Store,
  type StoredNar,
  type StoreNarOptions,
  type StoreStatus,
} from "./store.ts";
import { buildNarinfo, checkExpected, missingReferences } from "./publish_helpers.ts";
import { findStoredNar, recordStoredNar } from "./stored_nar.ts";

const noop = () => Promise.resolve();

export class FsStore implements Store {
  readonly backend = "filesystem" as const;

  private constructor(readonly layout: CacheLayout, readonly meta: MetaStore) {}

  static async open(layout: CacheLayout): Promise<FsStore> {
    await prepareDirs([layout.root, layout.nar, layout.logs], layout.tmp);
    return new FsStore(layout, await MetaStore.open(layout.db));
  }

  #narinfoPath(hashPart: string): string {
    return `${this.layout.root}/${hashPart}.narinfo`;
  }

  async getNarinfo(hashPart: string): Promise<NarInfo | undefined> {
    if (!isValidHashPart(hashPart)) return undefined;
    let text: string;
    try {
      text = await Deno.readTextFile(this.#narinfoPath(hashPart));
    } catch {
      return undefined;
    }
    return parseNarinfo(text);
  }

  async *list(): AsyncIterable<NarInfo> {
    for await (const e of Deno.readDir(this.layout.root)) {
      if (!e.isFile || !e.name.endsWith(".narinfo")) continue;
      const info = await this.getNarinfo(e.name.slice(0, -8));
      if (info) yield info;
    }
  }

  async findNar(narHash: Hash): Promise<StoredNar | undefined> {
    const found = await findStoredNar(this.meta, narHash);
    if (!found) return undefined;
    const name = narFileName(found.fileHash32, found.compression);
    return (await exists(`${this.layout.nar}/${name}`)) ? found : undefined;
  }

  async storeNar(nar: ReadableStream<Uint8Array>, opts: StoreNarOptions): Promise<StoredNar> {
    const res = await ingestChunks(nar, { layout: this.layout }, opts);
    const narHash = { algo: "sha256" as const, digest: res.narHash };
    if (opts.expect) checkExpected(opts.expect, narHash, res.narSize, res.pack);
    const fileHash32 = encodeNix32(res.fileHash);
    await res.pack.sealAs(`${this.layout.nar}/${narFileName(fileHash32, opts.compression)}`);
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
    const info = buildNarinfo(meta, stored, opts.keys);
    // The narinfo goes last: its existence means the NAR and the references are there.
    await writeFileAtomic(this.layout.tmp, this.#narinfoPath(sp.hashPart), formatNarinfo(info));
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
    const path = `${this.layout.nar}/${name}`;
    let size: number;
    try {
      const st = await Deno.stat(path);
      if (!st.isFile) return undefined;
      size = st.size;
    } catch {
      return undefined;
    }
    return {
      size,
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
      await Deno.remove(this.#narinfoPath(hashPart)).catch(() => {});
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
    for await (const e of Deno.readDir(this.layout.nar)) {
      if (e.isFile) fileBytes += (await Deno.stat(`${this.layout.nar}/${e.name}`)).size;
    }
    return { backend: "filesystem", paths, narBytes, fileBytes, storedBytes: fileBytes, chunks: 0 };
  }

  close(): Promise<void> {
    closeIngest();
    this.meta.close();
    return Promise.resolve();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
