/**
 * The local cache as the swarm sees it (`LocalPaths` of lib/swarm/ports.ts):
 * the kv backend's published paths and their change feed.
 *
 * @module
 */
import { parseHash } from "../hash/mod.ts";
import type { NarRecord } from "../kv/records.ts";
import type { KvStore } from "./kv_store.ts";

export interface SwarmLocalPath {
  hashPart: string;
  storePath: string;
  narHash: Uint8Array;
  narSize: number;
  references: string[];
  deriver?: string;
  ca?: string;
  sigs: string[];
  segments?: string[];
}

function toLocal(hashPart: string, r: NarRecord): SwarmLocalPath {
  const p: SwarmLocalPath = {
    hashPart,
    storePath: r.storePath,
    narHash: parseHash(r.narHash).digest,
    narSize: r.narSize,
    references: r.references,
    sigs: r.sigs,
  };
  if (r.deriver) p.deriver = r.deriver;
  if (r.ca) p.ca = r.ca;
  if (r.segments) p.segments = r.segments;
  return p;
}

export function swarmLocalPaths(store: KvStore) {
  const meta = store.meta;
  return {
    async *list(): AsyncIterable<SwarmLocalPath> {
      for await (const [h, r] of meta.listNars()) yield toLocal(h, r);
    },
    async get(hashPart: string): Promise<SwarmLocalPath | undefined> {
      const r = await meta.getNar(hashPart);
      return r && toLocal(hashPart, r);
    },
    changes: (ms: number) => meta.changesSince(ms),
    follow: (signal: AbortSignal, onChange: () => void) => meta.watch(signal, onChange),
  };
}
