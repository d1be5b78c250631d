/**
 * What the swarm needs from the rest of Arca, and nothing more. `cmd/swarm.ts`
 * wires these to the cache (the kv backend) and to Deno KV; tests wire them
 * to whatever they like. The swarm never sees packs, manifests or KV keys.
 *
 * @module
 */
import type { AuditEvent } from "../kv/records.ts";

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

/** What one peer link looks like from outside (status, `arca status`). */
export interface PeerStatus {
  /** The peer's static key, hex. */
  key: string;
  address: string;
  segments: string[];
  since: number;
  bytesIn: number;
  bytesOut: number;
  recordsIn: number;
  rejected: number;
}

/** Where the swarm reports its state for other processes to read. */
export interface StatusSink {
  write(node: { pid: number; started: number; key: string }, peers: PeerStatus[]): Promise<void>;
  clear(): Promise<void>;
}
