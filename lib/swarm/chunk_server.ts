/**
 * Answers peers' NAR and chunk requests. Every request is checked on its
 * own: the segment must be one the link shares, and this node must hold
 * the entry named (its own holder register is live) in that segment, so a
 * peer gets chunks only of paths of segments it proved it is in. A chunk
 * request must name the chunk's id as this node's manifest has it at that
 * index.
 *
 * Requests are queued per link and answered in order by a loop of their
 * own, so answering (reading packs, waiting for the peer to take the bytes)
 * never stops the link from reading: two nodes fetching from each other at
 * once cannot deadlock. A link with too many requests waiting gets "busy".
 *
 * @module
 */
import { WireError } from "./proto/bytes.ts";
import { compareBytes } from "./proto/entry.ts";
import { chunkMessage, MAX_MANIFEST_CHUNKS, type Message } from "./proto/messages.ts";
import type { NarChunks } from "./ports.ts";
import type { Replica } from "./replica.ts";

type Request = Extract<Message, { t: "nar_req" | "chunk_req" }>;

export interface ServingLink {
  send(m: Message | readonly Uint8Array[]): Promise<void>;
  /** Several messages in one write. */
  sendMany(ms: readonly (Message | readonly Uint8Array[])[]): Promise<void>;
  readonly closed: boolean;
  /** The segments the link shares, by their index on it. */
  replicas: { index: number; replica: Replica }[];
  /** Stored bytes sent in answers, for status. */
  served: number;
}

const MAX_QUEUED = 256;
/** Answers sent in one write, up to about this many bytes: one syscall per run, not per chunk. */
const BATCH_BYTES = 512 * 1024;

export class ChunkServer {
  #queues = new Map<ServingLink, Request[]>();
  #narHashes = new Map<string, Uint8Array>();

  constructor(private nars: NarChunks) {}

  /** Takes a request; answers it soon. Throws `WireError` for a segment the link does not share. */
  take(link: ServingLink, m: Request): void {
    if (!link.replicas.some((x) => x.index === m.seg)) {
      throw new WireError(`${m.t} names segment ${m.seg}, which this link does not share`);
    }
    const q = this.#queues.get(link);
    if (!q) {
      const fresh = [m];
      this.#queues.set(link, fresh);
      void this.#serve(link, fresh);
    } else if (q.length >= MAX_QUEUED) {
      link.send({ t: "nar_err", req: m.req, error: "busy" }).catch(() => {});
    } else q.push(m);
  }

  async #serve(link: ServingLink, q: Request[]): Promise<void> {
    try {
      while (q.length && !link.closed) {
        // The answers to what is queued now go out together.
        const batch: (Message | Uint8Array[])[] = [];
        let bytes = 0;
        while (q.length && bytes < BATCH_BYTES) {
          const a = await this.#answer(link, q.shift()!);
          batch.push(a);
          if (Array.isArray(a)) bytes += a[1].length;
        }
        await link.sendMany(batch);
      }
    } catch {
      /* the link closed: what is left goes unanswered */
    } finally {
      this.#queues.delete(link);
    }
  }

  async #answer(link: ServingLink, m: Request): Promise<Message | Uint8Array[]> {
    const replica = link.replicas.find((x) => x.index === m.seg)!.replica;
    const narHash = replica.held.has(m.key) ? await this.#narHashOf(replica, m.key) : undefined;
    if (!narHash) return { t: "nar_err", req: m.req, error: "not found" };
    const manifest = await this.nars.manifest(narHash);
    if (!manifest) return { t: "nar_err", req: m.req, error: "not found" };
    if (m.t === "nar_req") {
      const chunks = manifest.chunks.slice(m.from, m.from + MAX_MANIFEST_CHUNKS);
      return {
        t: "nar_manifest",
        req: m.req,
        narSize: manifest.narSize,
        total: manifest.chunks.length,
        from: m.from,
        chunks,
      };
    }
    const c = manifest.chunks[m.index];
    if (!c || compareBytes(c.id, m.id) !== 0) {
      return { t: "nar_err", req: m.req, error: "not found" };
    }
    const data = await this.nars.chunk(narHash, m.index);
    if (!data) return { t: "nar_err", req: m.req, error: "damaged" };
    link.served += data.length;
    return chunkMessage(m.req, manifest.method, data);
  }

  async #narHashOf(replica: Replica, key: string): Promise<Uint8Array | undefined> {
    const k = `${replica.seg.name}/${key}`;
    const hit = this.#narHashes.get(k);
    if (hit) return hit;
    const e = await replica.entry(key);
    if (!e) return undefined;
    this.#narHashes.set(k, e.narHash);
    if (this.#narHashes.size > 4096) this.#narHashes.delete(this.#narHashes.keys().next().value!);
    return e.narHash;
  }
}
