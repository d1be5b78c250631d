/**
 * The swarm subsystem: segments' replicas, the local cache followed into
 * them, discovery, peer links and their sync, and the view of peers' paths
 * the substituter serves. It talks to the rest of Arca only through the
 * ports of `ports.ts`.
 *
 * ```
 *  local cache ──LocalTracker──▶ Replica (per segment) ◀──LinkSync── Link ◀── peer
 *                                   │  durable in EntryStore          ▲
 *                                   ▼                                 │
 *                               RemoteView ──▶ narinfo index     PeerManager ◀── Discovery
 * ```
 *
 * @module
 */
import type { KeyPair } from "./noise/mod.ts";
import type { PublicKey } from "../sign/mod.ts";
import { encodeHex } from "../encoding/mod.ts";
import { Discovery, type DiscoveryStats } from "./discovery.ts";
import { LocalTracker } from "./local_tracker.ts";
import { type Peer, PeerManager } from "./peers.ts";
import { NodeClock, Replica } from "./replica.ts";
import { RemoteView } from "./remote_view.ts";
import type { SegmentRuntime } from "./segment_runtime.ts";
import type { EntryStore, LocalPaths, NarChunks, PeerStatus, StatusSink } from "./ports.ts";
import { ChunkServer } from "./chunk_server.ts";
import { type FetchStats, narHashOfName, PeerFetcher } from "./peer_fetch.ts";
import { compareBytes, isLive } from "./proto/entry.ts";

export interface SwarmOptions {
  segments: SegmentRuntime[];
  staticKey: KeyPair;
  storeDir: string;
  nixpkgsKeys: PublicKey[];
  local: LocalPaths;
  entries: EntryStore;
  /** The local store's NARs by chunk: serving peers, and keeping what comes from them. */
  nars?: NarChunks;
  /** Multicast discovery; off for networks without it (static peers only). */
  discovery?: { port: number; group: string; iface: string; ttl: number };
  sync: { bind: string; port: number };
  staticPeers: { host: string; port: number }[];
  maxPeers: number;
  status?: StatusSink;
  /** Narinfos of peers' paths to serve: text, or undefined when gone. */
  onRemote?: (hashPart: string, narinfo: string | undefined) => void;
  /** Each finished replication round (tests, benchmarks). */
  onRoundDone?: (peer: Peer, segment: string, result: string) => void;
  log: (msg: string) => void;
}

export interface SegmentStats {
  name: string;
  description: string;
  filter: string;
  /** Entries with a live holder (what peers can get). */
  live: number;
  /** All entries, tombstones included. */
  entries: number;
  /** Entries this node holds. */
  held: number;
  peers: number;
}

const STATUS_EVERY_MS = 5_000;

export class Swarm {
  readonly replicas = new Map<SegmentRuntime, Replica>();
  readonly started = Date.now();
  #peers!: PeerManager;
  #discovery: Discovery | undefined;
  #tracker!: LocalTracker;
  #view: RemoteView | undefined;
  #fetcher: PeerFetcher | undefined;
  #statusTimer: ReturnType<typeof setInterval> | undefined;
  #abort = new AbortController();

  private constructor(readonly opts: SwarmOptions) {}

  static async start(opts: SwarmOptions): Promise<Swarm> {
    const s = new Swarm(opts);
    await s.#start();
    return s;
  }

  get key(): Uint8Array {
    return this.opts.staticKey.publicKey;
  }

  /** The TCP port peer links are accepted on. */
  get syncPort(): number {
    return this.#peers.port;
  }

  get peers(): Map<string, Peer> {
    return this.#peers.peers;
  }

  get discoveryStats(): DiscoveryStats | undefined {
    return this.#discovery?.stats;
  }

  async #start(): Promise<void> {
    const o = this.opts;
    const clock = new NodeClock();
    if (o.onRemote) this.#view = new RemoteView(o.storeDir, o.onRemote);
    for (const seg of o.segments) {
      const replica: Replica = new Replica(seg, o.entries, {
        storeDir: o.storeDir,
        self: o.staticKey.publicKey,
        clock,
        onVisible: (key, e) => this.#view?.update(replica, key, e),
        onChange: () => this.#peers?.kick(replica),
      });
      this.replicas.set(seg, replica);
    }
    for (const r of this.replicas.values()) await r.load();
    this.#tracker = new LocalTracker(o.local, [...this.replicas.values()], {
      storeDir: o.storeDir,
      nixpkgsKeys: o.nixpkgsKeys,
      log: o.log,
    });
    await this.#tracker.start(this.#abort.signal);
    if (o.nars) {
      this.#fetcher = new PeerFetcher({
        nars: o.nars,
        peers: () => this.#peers.peers.values(),
        penalize: (p, why) => {
          const peer = [...this.#peers.peers.values()].find((x) => x === p);
          if (peer) this.#peers.penalize(peer, why);
        },
        log: o.log,
      });
    }
    this.#peers = new PeerManager({
      staticKey: o.staticKey,
      segments: o.segments,
      replicas: this.replicas,
      bind: o.sync.bind,
      port: o.sync.port,
      maxPeers: o.maxPeers,
      staticPeers: o.staticPeers,
      log: o.log,
      onRoundDone: o.onRoundDone,
      chunks: o.nars ? new ChunkServer(o.nars) : undefined,
      fetcher: this.#fetcher,
    });
    this.#peers.start();
    if (o.discovery) {
      this.#discovery = new Discovery({
        ...o.discovery,
        segments: o.segments,
        staticKey: o.staticKey.publicKey,
        syncPort: () => this.#peers.port,
        onPeer: (p) => this.#peers.offer(p, "multicast"),
        log: o.log,
      });
      try {
        await this.#discovery.start();
      } catch (e) {
        // A host without multicast still links to static peers and their peers.
        o.log(`multicast discovery is unavailable (${(e as Error).message}); static peers only`);
        this.#discovery.stop();
        this.#discovery = undefined;
      }
    }
    if (o.status) {
      const write = () =>
        void o.status!.write(
          {
            pid: Deno.pid,
            started: this.started,
            key: encodeHex(this.key),
            fetch: this.#fetcher?.stats,
          },
          this.peerStatus(),
        ).catch((e) => o.log(`writing swarm status failed: ${(e as Error).message}`));
      write();
      this.#statusTimer = setInterval(write, STATUS_EVERY_MS);
    }
  }

  /** Totals of NAR transfers from peers in this run. */
  get fetchStats(): FetchStats | undefined {
    return this.#fetcher?.stats;
  }

  /**
   * The NAR of a path known from peers (`peer/<hashPart>/<NarHash>.nar`),
   * streamed from them and checked, or undefined when none can start it.
   */
  async openNar(
    hashPart: string,
    narHash32: string,
  ): Promise<{ size: number; body: ReadableStream<Uint8Array> } | undefined> {
    const narHash = narHashOfName(narHash32);
    if (!narHash || !this.#fetcher || !this.#view) return undefined;
    const backers = [];
    let entry;
    for (const [replica, key] of this.#view.backers(hashPart)) {
      const e = await replica.entry(key);
      if (!e || !isLive(e) || compareBytes(e.narHash, narHash) !== 0) continue;
      entry ??= e;
      backers.push({ replica, key });
    }
    if (!entry) return undefined;
    return await this.#fetcher.open(entry, backers);
  }

  peerStatus(): PeerStatus[] {
    return this.#peers.status();
  }

  segmentStats(): SegmentStats[] {
    return [...this.replicas.values()].map((r) => ({
      name: r.seg.name,
      description: r.seg.description,
      filter: r.seg.filter,
      live: r.set.liveCount,
      entries: r.set.size,
      held: r.held.size,
      peers:
        [...this.#peers.peers.values()].filter((p) => p.shared.some((x) => x.segment === r.seg))
          .length,
    }));
  }

  /** Looks at the local cache now instead of at its next change notice. */
  refreshLocal(): Promise<void> {
    return this.#tracker.refresh();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    clearInterval(this.#statusTimer);
    this.#discovery?.stop();
    this.#peers.stop();
    await this.opts.status?.clear().catch(() => {});
  }
}
