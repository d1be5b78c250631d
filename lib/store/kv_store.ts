/**
 * The default backend: chunks deduplicated into packs, metadata in Deno KV.
 *
 * Import order, each step safe to interrupt:
 * 1. stream the NAR through `ingestChunks` (new chunks go to a pack under tmp/)
 * 2. check NarHash/NarSize against what Nix recorded
 * 3. seal the pack (fsync, rename into packs/), write the manifest
 * 4. index the new chunks
 * 5. one atomic commit: narinfo record, NAR file record, counters, audit
 * Only step 5 makes the path visible, and only after its references are.
 */
import { crc32 } from "node:zlib";
import { encodeNix32 } from "../encoding/mod.ts";
import type { Hash } from "../hash/mod.ts";
import type { NarInfo } from "../narinfo/mod.ts";
import { parseStorePath, parseStorePathBase } from "../store_path/mod.ts";
import { type CacheLayout, manifestPath, packPath } from "../blob/cache_layout.ts";
import { prepareDirs, writeFileAtomic } from "../blob/atomic_file.ts";
import { PackReader } from "../blob/pack_reader.ts";
import { fileTail } from "../blob/file_stream.ts";
import { MetaStore } from "../kv/meta_store.ts";
import type { AuditEvent, NarFileRecord } from "../kv/records.ts";
import { closeIngest, ingestChunks } from "./ingest_chunks.ts";
import { decodeManifest, encodeManifest, type Manifest } from "./manifest.ts";
import { parseNarFileName } from "./nar_file_name.ts";
import { buildNarinfo, checkExpected, missingReferences } from "./publish_helpers.ts";
import { findStoredNar, recordStoredNar } from "./stored_nar.ts";
import { narinfoToRecord, recordToNarinfo } from "./record_narinfo.ts";
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

/** Reads are grouped into runs of adjacent chunks up to this size. */
const RUN_BYTES = 1 << 20;
const MANIFEST_CACHE = 1024;
const FILE_CACHE = 16384;

/**
 * When a NAR file is one whole pack (every chunk new at import, stored in
 * order), returns that pack and the file size; else undefined. Memoized.
 */
const extents = new WeakMap<Manifest, { pack: string; size: number } | null>();
function soleExtent(m: Manifest): { pack: string; size: number } | undefined {
  let e = extents.get(m);
  if (e === undefined) {
    e = null;
    if (m.chunks.length > 0) {
      const pack = m.chunks[0].pack;
      let off = 0;
      let ok = true;
      for (const c of m.chunks) {
        if (c.pack !== pack || c.offset !== off) {
          ok = false;
          break;
        }
        off += c.clen;
      }
      if (ok) e = { pack, size: off };
    }
    extents.set(m, e);
  }
  return e ?? undefined;
}

/** Reads exactly `len` bytes from the current position (`offset` is for the message). */
async function readExactly(f: Deno.FsFile, len: number, offset: number): Promise<Uint8Array> {
  const buf = new Uint8Array(len);
  let got = 0;
  while (got < len) {
    const n = await f.read(buf.subarray(got));
    if (n === null) throw new RangeError(`pack ends at ${offset + got}, wanted ${offset + len}`);
    got += n;
  }
  return buf;
}
const REVERIFY_MS = 10 * 60_000;

/** Groups chunks stored next to each other in one pack into reads of up to RUN_BYTES. */
function* runs(
  m: Manifest,
  from: number,
  end: number,
): Generator<{ i: number; j: number; len: number }> {
  let i = from;
  let pos = 0;
  while (i < m.chunks.length && pos < end) {
    const first = m.chunks[i];
    let j = i + 1;
    let len = first.clen;
    while (
      j < m.chunks.length && len < RUN_BYTES && pos + len < end &&
      m.chunks[j].pack === first.pack && m.chunks[j].offset === first.offset + len
    ) len += m.chunks[j++].clen;
    yield { i, j, len };
    pos += len;
    i = j;
  }
}

export class KvStore implements Store {
  readonly backend = "kv" as const;
  #manifests = new Map<string, Manifest>();
  #verified = new Map<string, number>();
  #files = new Map<string, NarFileRecord>();

  private constructor(
    readonly layout: CacheLayout,
    readonly meta: MetaStore,
    readonly packs: PackReader,
  ) {}

  static async open(layout: CacheLayout): Promise<KvStore> {
    await prepareDirs([layout.root, layout.packs, layout.manifests, layout.logs], layout.tmp);
    const meta = await MetaStore.open(layout.db);
    return new KvStore(layout, meta, new PackReader(layout));
  }

  async getNarinfo(hashPart: string): Promise<NarInfo | undefined> {
    const r = await this.meta.getNar(hashPart);
    return r && recordToNarinfo(r);
  }

  async *list(): AsyncIterable<NarInfo> {
    for await (const [, r] of this.meta.listNars()) yield recordToNarinfo(r);
  }

  findNar(narHash: Hash): Promise<StoredNar | undefined> {
    return findStoredNar(this.meta, narHash);
  }

  async storeNar(nar: ReadableStream<Uint8Array>, opts: StoreNarOptions): Promise<StoredNar> {
    // While the lease is held gc deletes no file: the chunks this NAR reuses
    // or writes stay put until its records are committed.
    const lease = await this.meta.takeLease();
    try {
      return await this.#storeNar(nar, opts);
    } finally {
      await this.meta.dropLease(lease).catch(() => {});
    }
  }

  async #storeNar(nar: ReadableStream<Uint8Array>, opts: StoreNarOptions): Promise<StoredNar> {
    const res = await ingestChunks(
      nar,
      { layout: this.layout, meta: this.meta, packs: this.packs },
      opts,
    );
    const narHash = { algo: "sha256" as const, digest: res.narHash };
    if (opts.expect) checkExpected(opts.expect, narHash, res.narSize, res.pack);
    const packSize = res.pack.size;
    const sealed = await res.pack.seal();
    const fileHash32 = encodeNix32(res.fileHash);
    if (!(await this.meta.getNarFile(fileHash32))) {
      await writeFileAtomic(
        this.layout.tmp,
        manifestPath(this.layout, fileHash32),
        encodeManifest(res.manifest),
      );
    }
    await this.meta.putChunks(opts.compression, res.newChunks);
    return await recordStoredNar(this.meta, res, opts.compression, {
      newChunks: res.newChunks.length,
      storedBytes: packSize,
      pack: sealed ? { id: res.pack.id, size: packSize } : undefined,
    });
  }

  async publish(meta: PathMeta, stored: StoredNar, opts: PublishOptions): Promise<ImportResult> {
    const sp = parseStorePath(meta.storePath);
    const missing = await missingReferences(this, meta);
    if (missing.length) throw new MissingReferencesError(meta.storePath, missing);
    const info = buildNarinfo(meta, stored, opts.keys);
    const now = Date.now();
    const res = await this.meta.commitPath({
      hashPart: sp.hashPart,
      referenceHashParts: meta.references.map((r) => parseStorePathBase(r).hashPart),
      record: narinfoToRecord(info, stored.fileHash32, now),
      audit: {
        type: opts.event ?? "Import",
        time: now,
        path: meta.storePath,
        narSize: stored.narSize,
        fileSize: stored.fileSize,
        storedBytes: stored.storedBytes,
      },
    });
    if (res.status === "missing") {
      const byHash = new Map(meta.references.map((r) => [parseStorePathBase(r).hashPart, r]));
      throw new MissingReferencesError(meta.storePath, res.missing.map((h) => byHash.get(h)!));
    }
    if (res.status === "exists") {
      const other = await this.meta.getNar(sp.hashPart);
      if (other) return { status: "exists", narinfo: recordToNarinfo(other), storedBytes: 0 };
    }
    return { status: "imported", narinfo: info, storedBytes: stored.storedBytes };
  }

  async openNar(name: string): Promise<NarBody | undefined> {
    const parsed = parseNarFileName(name);
    if (!parsed) return undefined;
    const fh = parsed.fileHash32;
    let opened = await this.#openChecked(fh, parsed.compression);
    if (opened === "damaged") {
      // Records and manifests are cached; gc in another process may have
      // removed or compacted this NAR since. Look again before judging.
      this.#files.delete(fh);
      this.#manifests.delete(fh);
      this.#verified.delete(fh);
      opened = await this.#openChecked(fh, parsed.compression);
    }
    if (opened === "damaged") {
      await this.quarantine(fh, this.#lastProblem);
      return undefined;
    }
    if (!opened) return undefined;
    const { rec, m } = opened;
    return {
      size: rec.fileSize,
      compression: rec.compression,
      stream: (start, end) => this.#stream(fh, m, start, end),
    };
  }

  #lastProblem = "";

  async #openChecked(
    fh: string,
    compression: string,
  ): Promise<{ rec: NarFileRecord; m: Manifest } | undefined | "damaged"> {
    let rec = this.#files.get(fh);
    if (!rec) {
      rec = await this.meta.getNarFile(fh);
      if (!rec) return undefined;
      this.#files.set(fh, rec);
      if (this.#files.size > FILE_CACHE) this.#files.delete(this.#files.keys().next().value!);
    }
    if (rec.compression !== compression) return undefined;
    const m = await this.#manifest(fh);
    if (!m) {
      this.#lastProblem = "manifest is missing or damaged";
      return "damaged";
    }
    // Every chunk must be on disk and intact before a response starts, so a
    // 200 never ends short. Checking costs a read at page-cache speed and a
    // crc32 (GB/s); a NAR checked recently is trusted for a while.
    // Even then its packs' lengths are checked (a stat each): a pack cut
    // short since the last check would otherwise end a 200 early.
    const checked = this.#verified.get(fh);
    const trusted = checked !== undefined && Date.now() - checked <= REVERIFY_MS;
    const problem = trusted ? await this.#checkLengths(m) : await this.#check(m);
    if (problem) {
      this.#lastProblem = problem;
      return "damaged";
    }
    if (!trusted) {
      this.#verified.set(fh, Date.now());
      if (this.#verified.size > 4096) this.#verified.delete(this.#verified.keys().next().value!);
    }
    return { rec, m };
  }

  /** Returns what is wrong with a NAR's chunks on disk, or undefined when all are intact. */
  async #check(m: Manifest): Promise<string | undefined> {
    for (const run of runs(m, 0, Infinity)) {
      const first = m.chunks[run.i];
      if ((await this.packs.size(first.pack)) < first.offset + run.len) {
        return `pack ${first.pack} is missing or shorter than ${first.offset + run.len}`;
      }
      const bytes = await this.packs.read(first.pack, first.offset, run.len);
      let o = 0;
      for (let k = run.i; k < run.j; k++) {
        const c = m.chunks[k];
        if (crc32(bytes.subarray(o, o + c.clen)) !== c.crc) {
          return `chunk ${k} (pack ${c.pack} at ${c.offset}) is damaged`;
        }
        o += c.clen;
      }
    }
    return undefined;
  }

  /** Returns which pack is missing or too short for a NAR's chunks, or undefined. */
  async #checkLengths(m: Manifest): Promise<string | undefined> {
    const need = new Map<string, number>();
    for (const c of m.chunks) need.set(c.pack, Math.max(need.get(c.pack) ?? 0, c.offset + c.clen));
    for (const [pack, end] of need) {
      if ((await this.packs.size(pack)) < end) {
        return `pack ${pack} is missing or shorter than ${end}`;
      }
    }
    return undefined;
  }

  #stream(
    fileHash32: string,
    m: Manifest,
    start: number,
    end: number,
  ): Promise<ReadableStream<Uint8Array>> | ReadableStream<Uint8Array> {
    const whole = soleExtent(m);
    if (whole && end === whole.size) {
      // The NAR file is exactly one pack (nothing in it was deduplicated):
      // hand Deno the file itself, which it streams without going through JS.
      // The size check guards against a pack that holds more than this NAR.
      return this.packs.size(whole.pack).then((size) =>
        size === whole.size
          ? fileTail(packPath(this.layout, whole.pack), start)
          : this.#chunkStream(fileHash32, m, start, end)
      );
    }
    return this.#chunkStream(fileHash32, m, start, end);
  }

  /**
   * Streams [start, end) run by run, checking each chunk's crc32. Every pack
   * the range needs is opened before the response starts: gc may unlink a
   * pack (or compact it away) while a slow client is still reading, and an
   * unlinked file stays readable only through a handle opened before.
   */
  async #chunkStream(
    fileHash32: string,
    m: Manifest,
    start: number,
    end: number,
  ): Promise<ReadableStream<Uint8Array>> {
    // Find the first chunk that overlaps `start`.
    let i = 0;
    let pos = 0;
    while (i < m.chunks.length && pos + m.chunks[i].clen <= start) pos += m.chunks[i++].clen;
    const needed = new Set<string>();
    for (let k = i, p = pos; k < m.chunks.length && p < end; p += m.chunks[k++].clen) {
      needed.add(m.chunks[k].pack);
    }
    const files = new Map<string, { file: Deno.FsFile; pos: number }>();
    const done = () => {
      for (const f of files.values()) f.file.close();
      files.clear();
    };
    try {
      for (const pack of needed) {
        files.set(pack, { file: await Deno.open(packPath(this.layout, pack)), pos: 0 });
      }
    } catch (e) {
      done();
      throw e;
    }
    let cancelled = false;
    return new ReadableStream<Uint8Array>({
      pull: async (ctl) => {
        if (pos >= end || i >= m.chunks.length) {
          done();
          return ctl.close();
        }
        // A run of whole chunks stored next to each other in one pack.
        const first = m.chunks[i];
        let j = i + 1;
        let runLen = first.clen;
        while (
          j < m.chunks.length && runLen < RUN_BYTES && pos + runLen < end &&
          m.chunks[j].pack === first.pack && m.chunks[j].offset === first.offset + runLen
        ) runLen += m.chunks[j++].clen;
        let bytes: Uint8Array;
        try {
          const f = files.get(first.pack)!;
          // Seek only when the next run is not where the last one ended.
          if (f.pos !== first.offset) await f.file.seek(first.offset, Deno.SeekMode.Start);
          bytes = await readExactly(f.file, runLen, first.offset);
          f.pos = first.offset + runLen;
        } catch (e) {
          done();
          if (cancelled) return;
          // A pack shorter than its manifest says is damage; other errors
          // (a closed connection, EIO) end this response only.
          if (e instanceof RangeError) await this.quarantine(fileHash32, e.message);
          return ctl.error(e);
        }
        let o = 0;
        for (let k = i; k < j; k++) {
          const c = m.chunks[k];
          if (crc32(bytes.subarray(o, o + c.clen)) !== c.crc) {
            done();
            const msg = `chunk ${k} of NAR ${fileHash32} (pack ${c.pack} @${c.offset}) is damaged`;
            await this.quarantine(fileHash32, msg);
            return ctl.error(new Error(msg));
          }
          o += c.clen;
        }
        // Trim to the requested range.
        const from = Math.max(0, start - pos);
        const to = Math.min(runLen, end - pos);
        pos += runLen;
        i = j;
        ctl.enqueue(from === 0 && to === runLen ? bytes : bytes.subarray(from, to));
      },
      cancel: () => {
        cancelled = true;
        done();
      },
    }, { highWaterMark: 2 });
  }

  async #manifest(fileHash32: string): Promise<Manifest | undefined> {
    const hit = this.#manifests.get(fileHash32);
    if (hit) return hit;
    let m: Manifest;
    try {
      m = decodeManifest(await Deno.readFile(manifestPath(this.layout, fileHash32)));
    } catch {
      return undefined;
    }
    this.#manifests.set(fileHash32, m);
    if (this.#manifests.size > MANIFEST_CACHE) {
      this.#manifests.delete(this.#manifests.keys().next().value!);
    }
    return m;
  }

  async quarantine(fileHash32: string, reason: string): Promise<string[]> {
    const hit: string[] = [];
    for await (const [hashPart, r] of this.meta.listNars()) {
      if (r.fileHash !== fileHash32) continue;
      await this.meta.removeNar(hashPart, {
        type: "Quarantine",
        time: Date.now(),
        path: r.storePath,
        reason,
      });
      hit.push(r.storePath);
    }
    if (hit.length) console.error(`arca: took out of service (${reason}): ${hit.join(", ")}`);
    await this.meta.dropNarFile(fileHash32);
    this.#files.delete(fileHash32);
    this.#manifests.delete(fileHash32);
    this.#verified.delete(fileHash32);
    return hit;
  }

  audit(events: AuditEvent[]): Promise<void> {
    return this.meta.appendAudit(events);
  }

  auditLog(sinceMs: number): AsyncIterable<AuditEvent> {
    return this.meta.listAudit(sinceMs);
  }

  async status(): Promise<StoreStatus> {
    const s = await this.meta.stats();
    return { backend: "kv", ...s };
  }

  changes(ms: number): AsyncIterable<{ ms: number; hashPart: string; op: string }> {
    return this.meta.changesSince(ms);
  }

  follow(signal: AbortSignal, onChange: () => void): Promise<void> {
    return this.meta.watch(signal, onChange);
  }

  async close(): Promise<void> {
    closeIngest();
    await this.packs.close();
    this.meta.close();
  }
}
