/**
 * The filesystem backend: the flat layout `nix copy --to file://` writes
 * (`<hash>.narinfo`, `nar/<fileHash>.nar.zst`), so nginx could serve the
 * directory as it is. No cross-NAR dedup: each NAR file is whole. The audit
 * log still goes to Deno KV.
 */
import { encodeNix32 } from "../encoding/mod.ts";
import { formatHash, hashEquals } from "../hash/mod.ts";
import { formatNarinfo, type NarInfo, parseNarinfo } from "../narinfo/mod.ts";
import { isValidHashPart, parseStorePath, parseStorePathBase } from "../store_path/mod.ts";
import { signNarinfo } from "../sign/mod.ts";
import type { CacheLayout } from "../blob/cache_layout.ts";
import { prepareDirs, writeFileAtomic } from "../blob/atomic_file.ts";
import { MetaStore } from "../kv/meta_store.ts";
import type { AuditEvent } from "../kv/records.ts";
import { closeIngest, ingestChunks } from "./ingest_chunks.ts";
import { narFileName, parseNarFileName } from "./nar_file_name.ts";
import {
  HashMismatchError,
  type ImportOptions,
  type ImportResult,
  MissingReferencesError,
  type NarBody,
  type PathMeta,
  type Store,
  type StoreStatus,
} from "./store.ts";

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

  async importNar(
    meta: PathMeta,
    nar: ReadableStream<Uint8Array>,
    opts: ImportOptions,
  ): Promise<ImportResult> {
    const sp = parseStorePath(meta.storePath);
    const existing = await this.getNarinfo(sp.hashPart);
    if (existing) {
      await nar.cancel().catch(() => {});
      return { status: "exists", narinfo: existing, storedBytes: 0 };
    }
    const self = meta.storePath.slice(meta.storePath.lastIndexOf("/") + 1);
    const missing: string[] = [];
    for (const ref of meta.references) {
      if (ref !== self && !(await this.getNarinfo(parseStorePathBase(ref).hashPart))) {
        missing.push(ref);
      }
    }
    if (missing.length) {
      await nar.cancel().catch(() => {});
      throw new MissingReferencesError(meta.storePath, missing);
    }
    const started = Date.now();
    const res = await ingestChunks(nar, { layout: this.layout }, {
      compression: opts.compression,
      level: opts.level,
      onProgress: opts.onProgress,
    });
    const narHash = { algo: "sha256" as const, digest: res.narHash };
    if (!hashEquals(narHash, meta.narHash) || res.narSize !== meta.narSize) {
      res.pack.abort();
      throw new HashMismatchError(
        `refusing ${meta.storePath}: its NAR hashes to ${
          formatHash(narHash)
        } (${res.narSize} bytes)` +
          ` but Nix recorded ${formatHash(meta.narHash)} (${meta.narSize} bytes)`,
      );
    }
    const fileHash32 = encodeNix32(res.fileHash);
    const name = narFileName(fileHash32, opts.compression);
    await res.pack.sealAs(`${this.layout.nar}/${name}`);
    let info: NarInfo = {
      storePath: meta.storePath,
      url: `nar/${name}`,
      compression: opts.compression,
      fileHash: { algo: "sha256", digest: res.fileHash },
      fileSize: res.fileSize,
      narHash,
      narSize: res.narSize,
      references: [...meta.references].sort(),
      deriver: meta.deriver,
      sigs: meta.sigs,
      ca: meta.ca,
    };
    for (const k of opts.keys) info = signNarinfo(info, k);
    // The narinfo goes last: its existence means the NAR and the references are there.
    await writeFileAtomic(this.layout.tmp, this.#narinfoPath(sp.hashPart), formatNarinfo(info));
    const now = Date.now();
    await this.meta.appendAudit([{
      type: "Import",
      time: now,
      path: meta.storePath,
      narSize: res.narSize,
      fileSize: res.fileSize,
      storedBytes: res.fileSize,
      ms: now - started,
    }]);
    return { status: "imported", narinfo: info, storedBytes: res.fileSize };
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
      stream: (start, end) => fileRange(path, start, end),
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

/** Streams bytes [start, end) of a file, closing it however the stream ends. */
function fileRange(path: string, start: number, end: number): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let pos = start;
  return new ReadableStream<Uint8Array>({
    async start() {
      file = await Deno.open(path, { read: true });
      await file.seek(start, Deno.SeekMode.Start);
    },
    async pull(ctl) {
      const want = Math.min(1 << 20, end - pos);
      if (want <= 0) {
        file?.close();
        return ctl.close();
      }
      const buf = new Uint8Array(want);
      const n = await file!.read(buf);
      if (n === null) {
        file?.close();
        return ctl.error(new RangeError(`${path} ended at ${pos}, expected ${end}`));
      }
      pos += n;
      ctl.enqueue(n === want ? buf : buf.subarray(0, n));
    },
    cancel() {
      file?.close();
    },
  });
}
