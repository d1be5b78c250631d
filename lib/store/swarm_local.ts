/**
 * The local cache as the swarm sees it (`LocalPaths` of lib/swarm/ports.ts):
 * the kv backend's published paths and their change feed.
 *
 * @module
 */
import { parseHash } from "../hash/mod.ts";
import type { NarRecord } from "../kv/records.ts";
import type { KvStore } from "./kv_store.ts";
import type { LocalPath, LocalPaths } from "../swarm/ports.ts";

function toLocal(hashPart: string, r: NarRecord): LocalPath {
  const p: LocalPath = {
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

export function swarmLocalPaths(store: KvStore): LocalPaths {
  const meta = store.meta;
  return {
    async *list(): AsyncIterable<LocalPath> {
      for await (const [h, r] of meta.listNars()) yield toLocal(h, r);
    },
    async get(hashPart: string): Promise<LocalPath | undefined> {
      const r = await meta.getNar(hashPart);
      return r && toLocal(hashPart, r);
    },
    changes: (ms: number) => meta.changesSince(ms),
    follow: (signal: AbortSignal, onChange: () => void) => meta.watch(signal, onChange),
  };
}
