/**
 * The metadata adapter: the only code that talks to Deno KV. Records and
 * their indexes and counters change in one atomic commit, so other processes
 * (a running `serve` while `import` works) never see half an import.
 */
import { K, STAT_NAMES, type StatName } from "./keys.ts";
import type { AuditEvent, ChunkLocation, NarFileRecord, NarRecord } from "./records.ts";

export type Stats = Record<StatName, number>;

/** A NAR file whose chunks are stored and indexed: not yet referenced by any path. */
export interface NarFileCommit {
  fileHash32: string;
  narHash32: string;
  narFile: NarFileRecord;
  newChunks: number;
  storedBytes: number;
  pack?: { id: string; size: number };
}

/** A path to publish; its NAR file must already be committed. */
export interface PathCommit {
  hashPart: string;
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
      const fileEntry = await this.kv.get(K.narfile(c.fileHash32));
      const op = this.kv.atomic().check(fileEntry);
      if (fileEntry.versionstamp === null) {
        op.set(K.narfile(c.fileHash32), c.narFile);
        op.set(K.narhash(c.narHash32), c.fileHash32);
        op.sum(K.stat("fileBytes"), BigInt(c.narFile.fileSize));
      }
      if (c.newChunks > 0) op.sum(K.stat("chunks"), BigInt(c.newChunks));
      if (c.storedBytes > 0) op.sum(K.stat("storedBytes"), BigInt(c.storedBytes));
      if (c.pack) op.set(K.pack(c.pack.id), { size: c.pack.size, createdAt: now });
      if ((await op.commit()).ok) return;
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
  async commitPath(c: PathCommit): Promise<boolean> {
    const now = c.record.importedAt;
    const existing = await this.kv.get(K.narinfo(c.hashPart));
    if (existing.versionstamp !== null) return false;
    const op = this.kv.atomic().check(existing);
    op.set(K.narinfo(c.hashPart), c.record);
    op.sum(K.stat("paths"), 1n).sum(K.stat("narBytes"), BigInt(c.record.narSize));
    op.set(K.change(now, c.hashPart), "add");
    op.set(K.gen, crypto.randomUUID());
    op.set(K.audit(now, crypto.randomUUID()), c.audit);
    return (await op.commit()).ok;
  }

  /** Takes a path out of service (a damaged chunk): it disappears from narinfo lookups. */
  async removeNar(hashPart: string, audit: AuditEvent): Promise<boolean> {
    const e = await this.kv.get<NarRecord>(K.narinfo(hashPart));
    if (!e.value) return false;
    const now = Date.now();
    const res = await this.kv.atomic().check(e).delete(K.narinfo(hashPart))
      .set(["quarantine", hashPart], { ...e.value, quarantinedAt: now })
      .sum(K.stat("paths"), minus(1))
      .sum(K.stat("narBytes"), minus(e.value.narSize))
      .set(K.change(now, hashPart), "del")
      .set(K.gen, crypto.randomUUID())
      .set(K.audit(now, crypto.randomUUID()), audit)
      .commit();
    return res.ok;
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

  /** Calls `onChange` whenever another process commits; stops with `signal`. */
  async watch(signal: AbortSignal, onChange: () => void): Promise<void> {
    const stream = this.kv.watch([K.gen]);
    const reader = stream.getReader();
    signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
    try {
      while (!signal.aborted) {
        const r = await reader.read();
        if (r.done) break;
        onChange();
      }
    } catch {
      // cancelled on abort
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

  async *listAudit(sinceMs: number): AsyncGenerator<AuditEvent> {
    const it = this.kv.list<AuditEvent>({
      start: [...K.auditPrefix, sinceMs],
      end: [...K.auditPrefix, Number.MAX_SAFE_INTEGER],
    });
    for await (const e of it) yield e.value;
  }
}

/** KvU64 sums wrap at 2^64, so adding 2^64 - n subtracts n. */
function minus(n: number): bigint {
  return (1n << 64n) - BigInt(n);
}

async function mustCommit(op: Deno.AtomicOperation, what: string): Promise<void> {
  const r = await op.commit();
  if (!r.ok) throw new Error(`KV commit of ${what} failed`);
}
