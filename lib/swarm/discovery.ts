/**
 * Finding peers on the local network: every few seconds each segment is
 * announced to an administratively scoped multicast group (TTL 1 by
 * default: announces stay on the link), and announces of others are turned
 * into candidates to dial. See `proto/announce.ts` for what a datagram says.
 *
 * Defences: a datagram is looked at only if it has the announce's size and
 * names one of our segments; its MAC must verify and its time be near ours;
 * each source address gets a small budget of datagrams per second (and all
 * of them together a larger one), so a flood costs little and cannot make
 * this node dial the world; the address dialled is the datagram's source.
 *
 * @module
 */
import { encodeHex } from "../encoding/mod.ts";
import { ANNOUNCE_SIZE, announceTopic, decodeAnnounce, encodeAnnounce } from "./proto/announce.ts";
import { compareBytes } from "./proto/entry.ts";
import type { SegmentRuntime } from "./segment_runtime.ts";
import { TokenBuckets } from "./token_buckets.ts";

export const ANNOUNCE_EVERY_MS = 5_000;

export interface DiscoveryOptions {
  port: number;
  group: string;
  /** IPv4 address of the interface to use; "" for the system's choice. */
  iface: string;
  ttl: number;
  segments: SegmentRuntime[];
  staticKey: Uint8Array;
  syncPort: () => number;
  onPeer: (p: { key: Uint8Array; host: string; port: number; segment: SegmentRuntime }) => void;
  log: (msg: string) => void;
}

export interface DiscoveryStats {
  sent: number;
  received: number;
  accepted: number;
  dropped: Record<string, number>;
}

export class Discovery {
  readonly stats: DiscoveryStats = { sent: 0, received: 0, accepted: 0, dropped: {} };
  #sock: Deno.DatagramConn | undefined;
  #sendSock: Deno.DatagramConn | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #perSource = new TokenBuckets({ rate: 10, burst: 20, maxKeys: 1024 });
  #all = new TokenBuckets({ rate: 200, burst: 400, maxKeys: 1 });
  #byId = new Map<string, SegmentRuntime>();
  #loggedDrop = new Set<string>();

  constructor(private opts: DiscoveryOptions) {
    for (const s of opts.segments) this.#byId.set(encodeHex(s.keys.id), s);
  }

  async start(): Promise<void> {
    const o = this.opts;
    this.#sock = Deno.listenDatagram({
      hostname: "0.0.0.0",
      port: o.port,
      transport: "udp",
      reuseAddress: true,
      loopback: true,
    });
    const membership = await this.#sock.joinMulticastV4(o.group, o.iface || "0.0.0.0");
    await membership.setTTL(o.ttl);
    // Outgoing multicast leaves by the interface of the source address: a
    // socket bound to the chosen interface's address picks that interface.
    if (o.iface) {
      this.#sendSock = Deno.listenDatagram({ hostname: o.iface, port: 0, transport: "udp" });
    }
    void this.#receiveLoop();
    this.#timer = setTimeout(() => this.#announceLoop(), 0);
  }

  #announceLoop(): void {
    void this.announce();
    const jitter = ANNOUNCE_EVERY_MS * (0.8 + 0.4 * Math.random());
    this.#timer = setTimeout(() => this.#announceLoop(), jitter);
  }

  /** Sends one announce per segment now. */
  async announce(): Promise<void> {
    const o = this.opts;
    const sock = this.#sendSock ?? this.#sock;
    if (!sock) return;
    const addr: Deno.NetAddr = { transport: "udp", hostname: o.group, port: o.port };
    for (const s of o.segments) {
      const d = encodeAnnounce({
        topicId: s.keys.id,
        staticKey: o.staticKey,
        syncPort: o.syncPort(),
        timeMs: Date.now(),
      }, s.keys.announceKey);
      try {
        await sock.send(d, addr);
        this.stats.sent++;
      } catch (e) {
        this.#drop("send failed", `sending announces failed: ${(e as Error).message}`);
      }
    }
  }

  async #receiveLoop(): Promise<void> {
    const sock = this.#sock!;
    for (;;) {
      let d: Uint8Array, from: Deno.Addr;
      try {
        [d, from] = await sock.receive(new Uint8Array(ANNOUNCE_SIZE + 1));
      } catch {
        return; // closed
      }
      this.stats.received++;
      const host = (from as Deno.NetAddr).hostname;
      if (!this.#all.take("all") || !this.#perSource.take(host)) {
        this.#drop("rate limited");
        continue;
      }
      const id = announceTopic(d);
      const seg = id && this.#byId.get(encodeHex(id));
      if (!seg) {
        this.#drop("not ours");
        continue;
      }
      try {
        const a = decodeAnnounce(d, seg.keys.announceKey, Date.now());
        if (compareBytes(a.staticKey, this.opts.staticKey) === 0) continue; // our own
        this.stats.accepted++;
        this.opts.onPeer({ key: a.staticKey, host, port: a.syncPort, segment: seg });
      } catch (e) {
        this.#drop("bad announce", `refused an announce from ${host}: ${(e as Error).message}`);
      }
    }
  }

  #drop(reason: string, logLine?: string): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
    if (logLine && !this.#loggedDrop.has(reason)) {
      this.#loggedDrop.add(reason);
      this.opts.log(`${logLine} (further ones are only counted)`);
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    try {
      this.#sock?.close();
    } catch { /* closed */ }
    try {
      this.#sendSock?.close();
    } catch { /* closed */ }
  }
}
