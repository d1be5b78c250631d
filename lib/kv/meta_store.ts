/**
 * The metadata adapter: the only code that talks to Deno KV. Records and
 * their indexes and counters change in one atomic commit, so other processes
 * (a running `serve` while `import` works) never see half an import.
 */
import { K, type RunKind, STAT_NAMES, type StatName } from "./keys.ts";
import type {
  AuditEvent,
  ChunkLocation,
  Lease,
  NarFileRecord,
  NarRecord,
  PackPlaced,
  PackRecord,
} from "./records.ts";

export type Stats = Record<StatName, number>;

/** Runs of one kind (`import`, `gc`) recorded by every process that used this database. */
export interface RunStats {
  count: number;
  /** Summed wall-clock duration of those runs. */
  ms: number;
  /** Paths imported, or paths removed by gc. */
  items: number;
  /** When the latest run ended (ms since the epoch); 0 if none did. */
  lastAt: number;
}

/** A NAR file whose chunks are stored and indexed: not yet referenced by any path. */
export interface NarFileCommit {
  fileHash32: string;
  narHash32: string;
  narFile: NarFileRecord;
  newChunks: number;
  storedBytes: number;
  pack?: PackPlaced;
}

/** The KV record of a pack just sealed (the cache directory's packs name no storage). */
export function packRecord(p: PackPlaced, createdAt: number): PackRecord {
  return p.storage && p.storage !== "local"
    ? { size: p.size, createdAt, storage: p.storage }
    : { size: p.size, createdAt };
}

/** A path to publish; its NAR file must already be committed. */
export interface PathCommit {
  hashPart: string;
  /** Hash parts of its references; each must be published (checked atomically). */
  referenceHashParts: string[];
  record: NarRecord;
  audit: AuditEvent;
}

export class MetaStore {
  private constructor(readonly kv: Deno.Kv) {}

  static async open(path: string): Promise<MetaStore> {
    return new MetaStore(await Deno.openKv(path));
  }

  close(): void {
    this.kv.close();
  }

  async getNar(hashPart: string): Promise<NarRecord | undefined> {
    return (await this.kv.get<NarRecord>(K.narinfo(hashPart))).value ?? undefined;
  }

  async getNarFile(fileHash32: string): Promise<NarFileRecord | undefined> {
    return (await this.kv.get<NarFileRecord>(K.narfile(fileHash32))).value ?? undefined;
  }

  async getPack(packId: string): Promise<PackRecord | undefined> {
    return (await this.kv.get<PackRecord>(K.pack(packId))).value ?? undefined;
  }

  /** Looks chunks up in batches of 10 (the `getMany` limit), all batches at once. */
  async lookupChunks(method: string, ids: Uint8Array[]): Promise<(ChunkLocation | undefined)[]> {
    const batches: Promise<Deno.KvEntryMaybe<ChunkLocation>[]>[] = [];
    for (let i = 0; i < ids.length; i += 10) {
      batches.push(
        this.kv.getMany<ChunkLocation[]>(ids.slice(i, i + 10).map((id) => K.chunk(method, id))),
      );
    }
    return (await Promise.all(batches)).flat().map((e) => e.value ?? undefined);
  }

  /**
   * Records where new chunks live. Done before the narinfo commit, in batches
   * (KV caps a commit's size): a chunk entry is harmless without a narinfo.
   */
  async putChunks(method: string, chunks: { id: Uint8Array; loc: ChunkLocation }[]): Promise<void> {
    for (let i = 0; i < chunks.length; i += 400) {
      const op = this.kv.atomic();
      for (const c of chunks.slice(i, i + 400)) op.set(K.chunk(method, c.id), c.loc);
      await mustCommit(op, "chunk index");
    }
  }

  /**
   * Records a stored NAR file and its counters. If the same file was
   * committed meanwhile, only the bytes this import added are counted.
   */
  async commitNarFile(c: NarFileCommit): Promise<void> {
    const now = c.narFile.createdAt;
    for (let attempt = 0; attempt < 5; attempt++) {
      const fileEntry = await this.kv.get<NarFileRecord>(K.narfile(c.fileHash32));
      const op = this.kv.atomic().check(fileEntry);
      if (fileEntry.value === null) {
        op.set(K.narfile(c.fileHash32), c.narFile);
        op.set(K.narhash(c.narHash32), c.fileHash32);
        op.sum(K.stat("fileBytes"), BigInt(c.narFile.fileSize));
      } else {
        // Reused: young again, so gc spares it until the path that needs it is published.
        op.set(K.narfile(c.fileHash32), { ...fileEntry.value, createdAt: now });
      }
      if (c.newChunks > 0) op.sum(K.stat("chunks"), BigInt(c.newChunks));
      if (c.storedBytes > 0) op.sum(K.stat("storedBytes"), BigInt(c.storedBytes));
      if (c.pack) op.set(K.pack(c.pack.id), packRecord(c.pack, now));
      if ((await whileLocked(() => op.commit())).ok) return;
    }
    throw new Error(`KV commit of NAR file ${c.fileHash32} kept conflicting`);
  }

  /** The stored NAR file with this content, if any. */
  async findNarFile(narHash32: string): Promise<string | undefined> {
    return (await this.kv.get<string>(K.narhash(narHash32))).value ?? undefined;
  }

  /**
   * Publishes one path. Returns false (and changes nothing) if the path was
   * already there, so concurrent imports of one path are harmless.
   */
  async commitPath(c: PathCommit): Promise<CommitPathResult> {
    const now = c.record.importedAt;
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await this.kv.get(K.narinfo(c.hashPart));
      if (existing.versionstamp !== null) return { status: "exists" };
      // Every commit that removes a narinfo rewrites `["removals"]`. Reading
      // it before looking at the references and checking it in the commit
      // makes a removal in between (gc, quarantine) fail the commit, however
      // many references there are (KV allows only 100 checks per commit).
      const removals = await this.kv.get(K.removals);
      const refs = c.referenceHashParts.filter((h) => h !== c.hashPart);
      const refEntries = refs.length
        ? (await Promise.all(
          chunked(refs, 10).map((part) => this.kv.getMany(part.map((h) => K.narinfo(h)))),
        )).flat()
        : [];
      const missing = refs.filter((_, i) => refEntries[i].versionstamp === null);
      if (missing.length) return { status: "missing", missing };
      const file = await this.kv.get<NarFileRecord>(K.narfile(c.record.fileHash));
      if (file.value === null) return { status: "no-file" };
      const op = this.kv.atomic().check(existing, removals, file);
      // See `#commitGroup`: a published path makes its NAR file record young again.
      op.set(K.narfile(c.record.fileHash), { ...file.value, createdAt: now });
      op.set(K.narinfo(c.hashPart), c.record);
      op.sum(K.stat("paths"), 1n).sum(K.stat("narBytes"), BigInt(c.record.narSize));
      op.set(K.change(now, c.hashPart), "add");
      op.set(K.gen, crypto.randomUUID());
      op.set(K.audit(now, crypto.randomUUID()), c.audit);
      if ((await whileLocked(() => op.commit())).ok) return { status: "ok" };
    }
    throw new Error(`could not publish ${c.record.storePath}: the cache kept changing, try again`);
  }

  /**
   * Records stored NAR files and publishes their paths, several per atomic
   * commit (batched imports). `items` are in publishing order: a path may
   * reference paths before it in the list. A group whose commit conflicts
   * (a path or file appeared, a removal happened) is redone one item at a
   * time with `commitNarFile` + `commitPath`. Returns one result per item.
   */
  async commitImports(
    items: { file: NarFileCommit; path: PathCommit }[],
    pack?: PackPlaced,
  ): Promise<CommitPathResult[]> {
    const out: CommitPathResult[] = [];
    let packDone = !pack;
    for (const group of chunked(items, IMPORT_GROUP)) {
      const res = await this.#commitGroup(group, packDone ? undefined : pack);
      if (res) {
        packDone = true;
        out.push(...res);
        continue;
      }
      for (const [k, it] of group.entries()) {
        const first = k === 0 && !packDone;
        await this.commitNarFile(first ? { ...it.file, pack } : it.file);
        packDone ||= first;
        out.push(await this.commitPath(it.path));
      }
    }
    return out;
  }

  /** One atomic commit for a group; undefined when a check failed (nothing changed). */
  async #commitGroup(
    group: { file: NarFileCommit; path: PathCommit }[],
    pack?: PackPlaced,
  ): Promise<CommitPathResult[] | undefined> {
    const removals = await this.kv.get(K.removals);
    const hashParts = group.map((g) => g.path.hashPart);
    const files = [...new Set(group.map((g) => g.file.fileHash32))];
    const [pathEntries, fileEntries] = await Promise.all([
      this.#getAll(hashParts.map((h) => K.narinfo(h))),
      this.#getAll(files.map((f) => K.narfile(f))),
    ]);
    if (pathEntries.some((e) => e.versionstamp !== null)) return undefined;
    const inGroup = new Set(hashParts);
    const outside = [
      ...new Set(group.flatMap((g) => g.path.referenceHashParts).filter((h) => !inGroup.has(h))),
    ];
    const refEntries = await this.#getAll(outside.map((h) => K.narinfo(h)));
    const missing = new Set(outside.filter((_, i) => refEntries[i].versionstamp === null));
    if (missing.size) return undefined;
    const op = this.kv.atomic().check(removals, ...pathEntries, ...fileEntries);
    // A NAR file record that already exists is written again, young: gc deletes an old record
    // no path uses only if it is unchanged since gc read it, so a path published with it either
    // changed it under gc (the delete fails) or was published before gc looked (gc sees the
    // path, or the record is young). Young means the publish time of its paths, no later:
    // gc tells a file stored again after a path's publish from the one that path left.
    const publishedAt = new Map<string, number>();
    for (const { file, path } of group) {
      const t = Math.max(publishedAt.get(file.fileHash32) ?? 0, path.record.importedAt);
      publishedAt.set(file.fileHash32, t);
    }
    fileEntries.forEach((e, i) => {
      if (e.value === null) return;
      op.set(e.key, { ...(e.value as NarFileRecord), createdAt: publishedAt.get(files[i])! });
    });
    const known = new Set(files.filter((_, i) => fileEntries[i].versionstamp !== null));
    let fileBytes = 0, chunks = 0, stored = 0, narBytes = 0;
    for (const { file, path } of group) {
      if (!known.has(file.fileHash32)) {
        known.add(file.fileHash32);
        op.set(K.narfile(file.fileHash32), file.narFile);
        op.set(K.narhash(file.narHash32), file.fileHash32);
        fileBytes += file.narFile.fileSize;
      }
      chunks += file.newChunks;
      stored += file.storedBytes;
      narBytes += path.record.narSize;
      const now = path.record.importedAt;
      op.set(K.narinfo(path.hashPart), path.record);
      op.set(K.change(now, path.hashPart), "add");
      op.set(K.audit(now, crypto.randomUUID()), path.audit);
    }
    if (pack) op.set(K.pack(pack.id), packRecord(pack, Date.now()));
    op.sum(K.stat("paths"), BigInt(group.length)).sum(K.stat("narBytes"), BigInt(narBytes));
    if (fileBytes > 0) op.sum(K.stat("fileBytes"), BigInt(fileBytes));
    if (chunks > 0) op.sum(K.stat("chunks"), BigInt(chunks));
    if (stored > 0) op.sum(K.stat("storedBytes"), BigInt(stored));
    op.set(K.gen, crypto.randomUUID());
    if (!(await whileLocked(() => op.commit())).ok) return undefined;
    return group.map(() => ({ status: "ok" as const }));
  }

  /** `getMany` over any number of keys, 10 at a time (its limit), all at once. */
  async #getAll(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<unknown>[]> {
    return (await Promise.all(chunked(keys, 10).map((part) => this.kv.getMany(part)))).flat();
  }

  /** Takes a path out of service (a damaged chunk): it disappears from narinfo lookups. */
  async removeNar(hashPart: string, audit: AuditEvent): Promise<boolean> {
    const e = await this.kv.get<NarRecord>(K.narinfo(hashPart));
    if (!e.value) return false;
    const now = Date.now();
    const op = this.kv.atomic().check(e).delete(K.narinfo(hashPart))
      .set(K.removals, crypto.randomUUID())
      .set(K.quarantine(hashPart), { ...e.value, quarantinedAt: now })
      .sum(K.stat("paths"), minus(1))
      .sum(K.stat("narBytes"), minus(e.value.narSize))
      .set(K.change(now, hashPart), "del")
      .set(K.gen, crypto.randomUUID())
      .set(K.audit(now, crypto.randomUUID()), audit);
    return (await whileLocked(() => op.commit())).ok;
  }

  /** Forgets a NAR file record (after its paths were taken out of service). */
  async dropNarFile(fileHash32: string): Promise<void> {
    await this.kv.delete(K.narfile(fileHash32));
  }

  async *listNars(): AsyncGenerator<[string, NarRecord]> {
    for await (const e of this.kv.list<NarRecord>({ prefix: K.narinfoPrefix })) {
      yield [e.key[1] as string, e.value];
    }
  }

  /** Paths added or removed at or after `ms`, oldest first. */
  async *changesSince(ms: number): AsyncGenerator<{ ms: number; hashPart: string; op: string }> {
    const it = this.kv.list<string>({
      start: [...K.changesPrefix, ms],
      end: [...K.changesPrefix, Number.MAX_SAFE_INTEGER],
    });
    for await (const e of it) {
      yield { ms: e.key[1] as number, hashPart: e.key[2] as string, op: e.value };
    }
  }

  /**
   * Calls `onChange` whenever any process commits, until `signal` aborts.
   * Deno KV's `watch` does not see commits made by other processes (an
   * `arca import` beside a running `serve`), so this polls the `["gen"]` key,
   * which every commit that changes what is served rewrites: one read
   * (~0.1 ms) every `everyMs`. A failed read (a busy database) is retried on
   * the next tick: a server never stops following the cache.
   */
  async watch(signal: AbortSignal, onChange: () => void, everyMs = 200): Promise<void> {
    let seen: string | null | undefined;
    while (!signal.aborted) {
      try {
        const v = (await this.kv.get(K.gen)).versionstamp;
        if (seen !== undefined && v !== seen) onChange();
        seen = v;
      } catch (e) {
        console.error(`arca: reading the change marker failed (retrying): ${(e as Error).message}`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(t);
          signal.removeEventListener("abort", wake);
          resolve();
        };
        const t = setTimeout(wake, everyMs);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }

  async stats(): Promise<Stats> {
    const entries = await this.kv.getMany<Deno.KvU64[]>(STAT_NAMES.map((n) => K.stat(n)));
    const out = {} as Stats;
    STAT_NAMES.forEach((n, i) => out[n] = Number(entries[i].value?.value ?? 0n));
    return out;
  }

  async appendAudit(events: AuditEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += 400) {
      const op = this.kv.atomic();
      for (const ev of events.slice(i, i + 400)) {
        op.set(K.audit(ev.time, crypto.randomUUID()), ev);
      }
      await mustCommit(op, "audit log");
    }
  }

  /** The newest `limit` audit events, newest first. */
  async recentAudit(limit: number): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    const it = this.kv.list<AuditEvent>({ prefix: [...K.auditPrefix] }, { reverse: true, limit });
    for await (const e of it) out.push(e.value);
    return out;
  }

  /**
   * Adds one finished run to the counters of `kind`. Sums, so runs of
   * several processes never conflict; `last` keeps the latest end.
   */
  async recordRun(kind: RunKind, ms: number, items: number, endedAt = Date.now()): Promise<void> {
    const u = (n: number) => BigInt(Math.max(0, Math.round(n)));
    const op = this.kv.atomic()
      .sum(K.run(kind, "count"), u(1))
      .sum(K.run(kind, "ms"), u(ms))
      .sum(K.run(kind, "items"), u(items))
      .max(K.run(kind, "last"), u(endedAt));
    await mustCommit(op, `${kind} run counters`);
  }

  async runStats(kind: RunKind): Promise<RunStats> {
    const fields = ["count", "ms", "items", "last"] as const;
    const e = await this.kv.getMany<Deno.KvU64[]>(fields.map((f) => K.run(kind, f)));
    const n = (i: number) => Number(e[i].value?.value ?? 0n);
    return { count: n(0), ms: n(1), items: n(2), lastAt: n(3) };
  }

  async *listAudit(sinceMs: number): AsyncGenerator<AuditEvent> {
    const it = this.kv.list<AuditEvent>({
      start: [...K.auditPrefix, sinceMs],
      end: [...K.auditPrefix, Number.MAX_SAFE_INTEGER],
    });
    for await (const e of it) yield e.value;
  }

  // gc, pins, verify (lib/gc)

  /** Lists one key family (gc, verify, pins): key, value and versionstamp. */
  async *scan<T>(prefix: readonly Deno.KvKeyPart[]): AsyncGenerator<[Deno.KvKey, T, string]> {
    for await (const e of this.kv.list<T>({ prefix: [...prefix] })) {
      yield [e.key, e.value, e.versionstamp];
    }
  }

  /**
   * Applies small changes, 10 per commit: an undefined `value` deletes the
   * key; `stats` are signed counter deltas committed with it; a change with
   * `check` (a versionstamp from `scan`) is skipped if the key changed since.
   * Returns how many were applied.
   */
  async applyMany(items: BatchItem[]): Promise<number> {
    let done = 0;
    for (let i = 0; i < items.length; i += 10) {
      const batch = items.slice(i, i + 10);
      if (await this.#apply(batch)) done += batch.length;
      else if (batch.length > 1) { for (const it of batch) done += await this.applyMany([it]); }
    }
    return done;
  }

  #apply(batch: BatchItem[]): Promise<boolean> {
    return whileLocked(() => this.#applyOnce(batch));
  }

  async #applyOnce(batch: BatchItem[]): Promise<boolean> {
    const op = this.kv.atomic();
    const sums = new Map<StatName, number>();
    for (const it of batch) {
      if (it.check !== undefined) op.check({ key: it.key, versionstamp: it.check });
      if (it.value === undefined) op.delete(it.key);
      else op.set(it.key, it.value);
      for (const [n, d] of Object.entries(it.stats ?? {}) as [StatName, number][]) {
        sums.set(n, (sums.get(n) ?? 0) + d);
      }
    }
    for (const [n, d] of sums) if (d !== 0) op.sum(K.stat(n), d > 0 ? BigInt(d) : minus(-d));
    return (await whileLocked(() => op.commit())).ok;
  }

  /**
   * Unpublishes paths (gc): the narinfo and its access time go with the
   * counters, a "del" change and a new `gen`, so running servers drop them.
   * A path changed meanwhile is skipped. With `noLeaseSince` (`leaseGen`'s
   * answer), nothing is removed once a lease was taken after it. Returns the
   * records removed.
   */
  async removePaths(hashParts: string[], noLeaseSince?: string | null): Promise<NarRecord[]> {
    const removed: NarRecord[] = [];
    for (let i = 0; i < hashParts.length; i += 10) {
      const batch = hashParts.slice(i, i + 10);
      const entries = await this.kv.getMany<NarRecord[]>(batch.map((h) => K.narinfo(h)));
      const op = this.kv.atomic();
      if (noLeaseSince !== undefined) op.check({ key: K.leaseGen, versionstamp: noLeaseSince });
      const now = Date.now();
      const gone: NarRecord[] = [];
      entries.forEach((e, j) => {
        if (!e.value) return;
        op.check(e).delete(e.key).delete(K.access(batch[j])).set(K.change(now, batch[j]), "del");
        gone.push(e.value);
      });
      if (!gone.length) continue;
      op.sum(K.stat("paths"), minus(gone.length));
      op.sum(K.stat("narBytes"), minus(gone.reduce((n, r) => n + r.narSize, 0)));
      op.set(K.gen, crypto.randomUUID());
      op.set(K.removals, crypto.randomUUID());
      if ((await whileLocked(() => op.commit())).ok) removed.push(...gone);
      else if (noLeaseSince !== undefined && (await this.leaseGen()) !== noLeaseSince) break;
      else if (batch.length > 1) {
        for (const h of batch) removed.push(...await this.removePaths([h], noLeaseSince));
      }
    }
    return removed;
  }

  /** Which leases were taken: changes with every `takeLease` (null before the first). */
  async leaseGen(): Promise<string | null> {
    return (await this.kv.get(K.leaseGen)).versionstamp;
  }

  /** Registers work in flight (an import or upload): gc deletes no pack until `dropLease`. */
  async takeLease(ttlMs = 6 * 3_600_000): Promise<string> {
    const id = crypto.randomUUID();
    const lease: Lease = { pid: Deno.pid, expiresAt: Date.now() + ttlMs };
    // The new generation tells a gc that decided on "no lease" before this one (`removePaths`).
    await mustCommit(this.kv.atomic().set(K.lease(id), lease).set(K.leaseGen, id), "lease");
    return id;
  }

  async dropLease(id: string): Promise<void> {
    await this.kv.delete(K.lease(id));
  }

  /** Takes the gc lock unless `held(current)` says its holder is still at work. */
  async tryGcLock(ttlMs: number, held: (l: Lease) => Promise<boolean>): Promise<boolean> {
    const cur = await this.kv.get<Lease>(K.gcLock);
    if (cur.value && await held(cur.value)) return false;
    const lease: Lease = { pid: Deno.pid, expiresAt: Date.now() + ttlMs };
    return (await whileLocked(() => this.kv.atomic().check(cur).set(K.gcLock, lease).commit())).ok;
  }

  async releaseGcLock(): Promise<void> {
    const cur = await this.kv.get<Lease>(K.gcLock);
    if (cur.value?.pid !== Deno.pid) return;
    await whileLocked(() => this.kv.atomic().check(cur).delete(K.gcLock).commit());
  }

  /** Remembers that the NAR with `narHash` (`sha256:<nix32>`) was uploaded as `nar/<name>`. */
  async putUpload(name: string, rec: UploadRecord): Promise<void> {
    await this.kv.set(K.upload(name), rec);
  }

  async getUpload(name: string): Promise<UploadRecord | undefined> {
    return (await this.kv.get<UploadRecord>(K.upload(name))).value ?? undefined;
  }

  /**
   * Replaces a published path's signatures (`arca sign`), announcing the
   * change so running servers pick it up. False when the path is not there.
   */
  async setSigs(hashPart: string, sigs: string[]): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = await this.kv.get<NarRecord>(K.narinfo(hashPart));
      if (!e.value) return false;
      const now = Date.now();
      const op = this.kv.atomic().check(e)
        .set(K.narinfo(hashPart), { ...e.value, sigs })
        .set(K.change(now, hashPart), "add")
        .set(K.gen, crypto.randomUUID());
      const res = await whileLocked(() => op.commit());
      if (res.ok) return true;
    }
    throw new Error(`KV update of the signatures of ${hashPart} kept conflicting`);
  }
}

/** What `putUpload` keeps: enough to tell whether the content is still stored. */
export interface UploadRecord {
  /** `sha256:<nix32>` of the plain NAR */
  narHash: string;
  narSize: number;
  time: number;
}

/**
 * Retries `f` while SQLite reports "database is locked": several processes
 * (serve, import, gc) write one KV file, and its busy timeout is short.
 */
export async function whileLocked<T>(f: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await f();
    } catch (e) {
      if (attempt >= 50 || !/database is locked/.test(String((e as Error)?.message))) throw e;
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
    }
  }
}

/** One change for `MetaStore.applyMany`. */
export interface BatchItem {
  key: Deno.KvKey;
  /** undefined deletes the key */
  value?: unknown;
  /** only if the key still has this versionstamp (null: still absent) */
  check?: string | null;
  /** signed counter deltas */
  stats?: Partial<Stats>;
}

export type CommitPathResult =
  | { status: "ok" }
  | { status: "exists" }
  | { status: "missing"; missing: string[] }
  /** Its NAR file record is gone (gc took it after it was stored): store the NAR again. */
  | { status: "no-file" };

/**
 * Paths per `commitImports` commit. KV allows 100 checks per commit; a group
 * checks each path, each file and the removals marker: 2 x 40 + 1.
 */
const IMPORT_GROUP = 40;

function chunked<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** KvU64 sums wrap at 2^64, so adding 2^64 - n subtracts n. */
function minus(n: number): bigint {
  return (1n << 64n) - BigInt(n);
}

async function mustCommit(op: Deno.AtomicOperation, what: string): Promise<void> {
  const r = await whileLocked(() => op.commit());
  if (!r.ok) throw new Error(`KV commit of ${what} failed`);
}
