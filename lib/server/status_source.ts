/**
 * The figures the status page (`GET /`), `/status.json` and `/metrics` show,
 * as one snapshot, and where they come from. The swarm adds its part through
 * `StatusSourceDeps.swarm`: segments, peers and replication counters are
 * optional fields, shown (and exported as metrics) only when present.
 */
import type { AuditEvent } from "../kv/records.ts";
import type { RunStats } from "../kv/meta_store.ts";
import { storeMeta } from "../store/store_meta.ts";
import type { Store, StoreStatus } from "../store/store.ts";
import type { ServerMetrics, Traffic } from "./server_metrics.ts";
import { VERSION } from "../version.ts";

export interface SegmentInfo {
  /** A segment's name (public) or a short id (private topics). */
  name: string;
  paths: number;
  private?: boolean;
}

export interface PeerInfo {
  id: string;
  /** `host:port` it is reached at. */
  address: string;
  /** When it was last heard from (ms since the epoch). */
  lastSeen: number;
  paths?: number;
}

export interface ReplicationFigures {
  pathsIn: number;
  pathsOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** What the swarm contributes, when it runs. */
export interface SwarmFigures {
  segments?: SegmentInfo[];
  peers?: PeerInfo[];
  replication?: ReplicationFigures;
}

export interface StatusSnapshot extends SwarmFigures {
  version: string;
  backend: "kv" | "filesystem";
  httpIo: string;
  startedAt: number;
  now: number;
  store: StoreStatus;
  /** File bytes / stored bytes. */
  dedupRatio: number;
  /** narinfos in this process's memory index. */
  indexPaths: number;
  traffic: Traffic;
  runs: { import: RunStats; gc: RunStats };
  /** The newest audit events, newest first. */
  recent: AuditEvent[];
  /** `name:base64` public keys of the configured signing keys. */
  publicKeys: string[];
  /** Reads need a token. */
  private: boolean;
  /** Whether uploads are taken ("token", "anonymous") or not ("disabled"). */
  uploads: "token" | "anonymous" | "disabled";
}

export interface StatusSourceDeps {
  store: Store;
  index: { readonly size: number };
  metrics: ServerMetrics;
  httpIo: string;
  publicKeys: string[];
  private: boolean;
  uploads: StatusSnapshot["uploads"];
  /** How many audit events `recent` holds. */
  recentLimit?: number;
  swarm?: () => SwarmFigures | Promise<SwarmFigures>;
}

/** A snapshot taken at most once a second; the filesystem backend's walk once a minute. */
export type StatusSource = () => Promise<StatusSnapshot>;

export function createStatusSource(deps: StatusSourceDeps): StatusSource {
  const meta = storeMeta(deps.store);
  // FsStore.status() walks every narinfo and NAR file; kv reads five counters.
  const storeTtl = deps.store.backend === "kv" ? 1000 : 60_000;
  let storeAt = -Infinity;
  let storeStatus: Promise<StoreStatus> | undefined;
  let last: { at: number; snap: Promise<StatusSnapshot> } | undefined;

  const take = async (now: number): Promise<StatusSnapshot> => {
    if (!storeStatus || now - storeAt >= storeTtl) {
      storeAt = now;
      storeStatus = deps.store.status();
      // A failed read is retried at the next snapshot, not kept.
      storeStatus.catch(() => storeAt = -Infinity);
    }
    const [store, imp, gc, recent, swarm] = await Promise.all([
      storeStatus,
      meta.runStats("import"),
      meta.runStats("gc"),
      meta.recentAudit(deps.recentLimit ?? 12),
      deps.swarm?.() ?? {},
    ]);
    return {
      version: VERSION,
      backend: deps.store.backend,
      httpIo: deps.httpIo,
      startedAt: deps.metrics.startedAt,
      now,
      store,
      dedupRatio: store.storedBytes > 0 ? store.fileBytes / store.storedBytes : 1,
      indexPaths: deps.index.size,
      traffic: deps.metrics.traffic(),
      runs: { import: imp, gc },
      recent,
      publicKeys: deps.publicKeys,
      private: deps.private,
      uploads: deps.uploads,
      ...swarm,
    };
  };

  return () => {
    const now = Date.now();
    if (!last || now - last.at >= 1000) {
      last = { at: now, snap: take(now) };
      last.snap.catch(() => last = undefined);
    }
    return last.snap;
  };
}
