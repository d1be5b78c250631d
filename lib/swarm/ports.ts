/**
 * What the swarm needs from the rest of Arca, and nothing more. `cmd/swarm.ts`
 * wires these to the cache (the kv backend) and to Deno KV; tests wire them
 * to whatever they like. The swarm never sees packs, manifests or KV keys.
 *
 * @module
 */
import type { AuditEvent } from "../kv/records.ts";
import type { PeerStatus, SwarmStatusRecord } from "../kv/swarm_store.ts";

/** A path in the local cache, as far as the swarm cares. */
export interface LocalPath {
  hashPart: string;
  storePath: string;
  /** sha256 digest of the NAR. */
  narHash: Uint8Array;
  narSize: number;
  /** Basenames. */
  references: string[];
  deriver?: string;
  ca?: string;
  sigs: string[];
  /** Segments picked at import (`import --segment`); undefined: the filters decide. */
  segments?: string[];
}

/** The local cache's paths and their changes (other processes import and collect too). */
export interface LocalPaths {
  list(): AsyncIterable<LocalPath>;
  get(hashPart: string): Promise<LocalPath | undefined>;
  /** Paths added or removed at or after `ms`. */
  changes(ms: number): AsyncIterable<{ ms: number; hashPart: string; op: string }>;
  /** Calls `onChange` when the cache may have changed, until `signal` aborts. */
  follow(signal: AbortSignal, onChange: () => void): Promise<void>;
}

/** One entry state to write (`bytes`) or forget (undefined). */
export interface EntryWrite {
  key: string;
  bytes?: Uint8Array;
}

/** Durable replica state: the encoded entries of each segment. */
export interface EntryStore {
  list(segment: string): AsyncIterable<{ key: string; bytes: Uint8Array }>;
  get(segment: string, keys: string[]): Promise<(Uint8Array | undefined)[]>;
  /** Writes entries and audit events; each entry write is atomic, a batch need not be. */
  put(segment: string, writes: EntryWrite[], audit: AuditEvent[]): Promise<void>;
}

export type { PeerStatus };

/** Where the swarm reports its state for other processes to read. */
export interface StatusSink {
  write(node: Omit<SwarmStatusRecord, "updated" | "peers">, peers: PeerStatus[]): Promise<void>;
  clear(): Promise<void>;
}

/** A NAR as this node stores it: its chunks in order. */
export interface StoredNarChunks {
  narSize: number;
  /** How the chunks are stored: 0 none, 1 zstd, 2 xz (what `chunk` messages say). */
  method: number;
  chunks: { id: Uint8Array; ulen: number }[];
}

/** A path whose NAR came from peers, to keep here. */
export interface FetchedPath {
  storePath: string;
  narHash: Uint8Array;
  narSize: number;
  references: string[];
  deriver?: string;
  ca?: string;
  sigs: string[];
  /** The segments it was replicated on: it is shared on those. */
  segments: string[];
  /** For the audit event: where the bytes came from. */
  detail: Record<string, unknown>;
}

/** The local store's NARs, chunk by chunk: what peer fetches read and write. */
export interface NarChunks {
  /** The chunks of the NAR with this NarHash, if it is stored here. */
  manifest(narHash: Uint8Array): Promise<StoredNarChunks | undefined>;
  /** The stored bytes of chunk `index` of that NAR; undefined when gone or damaged. */
  chunk(narHash: Uint8Array, index: number): Promise<Uint8Array | undefined>;
  /** For each id: is a chunk with that id stored here (in any NAR)? */
  has(ids: Uint8Array[]): Promise<boolean[]>;
  /**
   * The plain bytes of a chunk stored here, by id, in a buffer of their own:
   * the fetcher frees it once every reader has passed the chunk.
   */
  localChunk(id: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * Stores a NAR arriving chunk by chunk, each checked against its id (the
   * whole checked against `path.narHash` before anything is published),
   * then publishes the path if its references are here ("published"), else
   * keeps only the NAR ("stored"). `stored` is a chunk's bytes as they came
   * from a peer, in that peer's compression (0 none, 1 zstd, 2 xz).
   */
  save(
    path: FetchedPath,
    chunks: AsyncIterable<
      { id: Uint8Array; plain: Uint8Array; stored?: { method: number; data: Uint8Array } }
    >,
  ): Promise<"published" | "stored">;
}
