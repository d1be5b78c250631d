/**
 * The swarm's durable state in Deno KV: each segment's entry states (one key
 * each, written in batches) and the running swarm's status for `arca status`
 * in other processes. Shaped to fit the ports of `lib/swarm/ports.ts`.
 *
 * @module
 */
import { K } from "./keys.ts";
import { type MetaStore, whileLocked } from "./meta_store.ts";
import type { AuditEvent } from "./records.ts";

/** One peer link, as `arca status` shows it. */
export interface PeerStatus {
  /** The peer's static key, hex. */
  key: string;
  address: string;
  segments: string[];
  since: number;
  bytesIn: number;
  bytesOut: number;
  recordsIn: number;
  recordsOut: number;
  rejected: number;
  /** Stored NAR bytes fetched from this peer, and served to it. */
  fetchedBytes: number;
  servedBytes: number;
  /** Bad chunks it sent. */
  strikes: number;
}

/** NAR transfers from peers in one run of `arca swarm`. */
export interface FetchStats {
  transfers: number;
  fetchedBytes: number;
  localChunks: number;
  peerChunks: number;
  badChunks: number;
  failed: number;
}

/** What `arca swarm` writes every few seconds while it runs. */
export interface SwarmStatusRecord {
  pid: number;
  started: number;
  updated: number;
  /** The node's static key, hex. */
  key: string;
  peers: PeerStatus[];
  fetch?: FetchStats;
}

/** A commit's size stays well under what Deno KV allows in one atomic operation. */
const COMMIT_BYTES = 256 * 1024;
const COMMIT_KEYS = 200;

export class SwarmStore {
  constructor(private meta: MetaStore) {}

  async *list(segment: string): AsyncIterable<{ key: string; bytes: Uint8Array }> {
    const it = this.meta.kv.list<Uint8Array>({ prefix: [...K.swarmEntryPrefix(segment)] });
    for await (const e of it) yield { key: e.key[3] as string, bytes: e.value };
  }

  async get(segment: string, keys: string[]): Promise<(Uint8Array | undefined)[]> {
    const parts: Promise<Deno.KvEntryMaybe<Uint8Array>[]>[] = [];
    for (let i = 0; i < keys.length; i += 10) {
      parts.push(
        this.meta.kv.getMany<Uint8Array[]>(
          keys.slice(i, i + 10).map((k) => K.swarmEntry(segment, k)),
        ),
      );
    }
    return (await Promise.all(parts)).flat().map((e) => e.value ?? undefined);
  }

  async put(
    segment: string,
    writes: { key: string; bytes?: Uint8Array }[],
    audit: AuditEvent[],
  ): Promise<void> {
    let op = this.meta.kv.atomic();
    let bytes = 0, n = 0;
    const flush = async () => {
      if (n === 0) return;
      const commit = op;
      const r = await whileLocked(() => commit.commit());
      if (!r.ok) throw new Error(`KV commit of swarm entries of ${segment} failed`);
      op = this.meta.kv.atomic();
      bytes = 0;
      n = 0;
    };
    for (const w of writes) {
      const size = w.bytes?.length ?? 0;
      if (n >= COMMIT_KEYS || bytes + size > COMMIT_BYTES) await flush();
      if (w.bytes) op.set(K.swarmEntry(segment, w.key), w.bytes);
      else op.delete(K.swarmEntry(segment, w.key));
      bytes += size + 64;
      n++;
    }
    await flush();
    if (audit.length) await this.meta.appendAudit(audit);
  }

  async writeStatus(s: SwarmStatusRecord): Promise<void> {
    await whileLocked(() => this.meta.kv.set(K.swarmStatus, s));
  }

  async readStatus(): Promise<SwarmStatusRecord | undefined> {
    return (await this.meta.kv.get<SwarmStatusRecord>(K.swarmStatus)).value ?? undefined;
  }

  async clearStatus(pid: number): Promise<void> {
    const cur = await this.meta.kv.get<SwarmStatusRecord>(K.swarmStatus);
    if (cur.value?.pid === pid) {
      await this.meta.kv.atomic().check(cur).delete(K.swarmStatus).commit();
    }
  }
}
