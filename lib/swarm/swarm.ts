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
import type { EntryStore, LocalPaths, PeerStatus, StatusSink } from "./ports.ts";

export interface SwarmOptions {
  segments: SegmentRuntime[];
  staticKey: KeyPair;
  storeDir: string;
  nixpkgsKeys: PublicKey[];
  local: LocalPaths;
  entries: EntryStore;
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
          { pid: Deno.pid, started: this.started, key: encodeHex(this.key) },
          this.peerStatus(),
        ).catch((e) => o.log(`writing swarm status failed: ${(e as Error).message}`));
      write();
      this.#statusTimer = setInterval(write, STATUS_EVERY_MS);
    }
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
