/**
 * The peer links of a node: a listener, a dialler working through candidate
 * addresses (from announces, static peers and other peers' lists), and for
 * every established link its hello, its shared segments and its sync.
 *
 * Rules that keep the swarm honest and bounded:
 * - one link per pair of nodes, whoever dialled: when both dial at once, the
 *   link dialled by the smaller static key stays (both sides agree), and a
 *   node waits a few seconds before dialling a smaller key that announced
 *   itself, so usually only one dial happens;
 * - a candidate from an announce or a peer's list carries a static key, and
 *   the handshake is abandoned if the peer's key is another;
 * - failures back the address off exponentially (2 s to 10 min); at most
 *   `MAX_DIALS` dials and `MAX_PENDING` incoming handshakes at once, at most
 *   `maxPeers` links, at most `MAX_CANDIDATES` addresses remembered;
 * - a peer that breaks the protocol is dropped and not dialled for a while.
 *
 * @module
 */
import { encodeHex } from "../encoding/mod.ts";
import type { KeyPair } from "./noise/mod.ts";
import { FrameReader } from "./frame_io.ts";
import { HandshakeError, initiate, respond, type Session } from "./handshake.ts";
import { Link } from "./link.ts";
import { compareBytes } from "./proto/entry.ts";
import { WireError } from "./proto/bytes.ts";
import {
  decodeMessage,
  MAX_PEERS_LISTED,
  type Message,
  PROTOCOL_VERSION,
} from "./proto/messages.ts";
import { ourTags, sharedSegments } from "./member_tags.ts";
import { LinkSync } from "./link_sync.ts";
import type { Replica } from "./replica.ts";
import type { SegmentRuntime } from "./segment_runtime.ts";
import type { PeerStatus } from "./ports.ts";
import { TokenBuckets } from "./token_buckets.ts";
import type { ChunkServer } from "./chunk_server.ts";
import type { PeerFetcher } from "./peer_fetch.ts";

const MAX_DIALS = 4;
const MAX_PENDING = 16;
const MAX_PENDING_PER_HOST = 4;
const MAX_CANDIDATES = 256;
/** Addresses remembered per host: one host cannot fill the table (announcing many ports). */
const MAX_CANDIDATES_PER_HOST = 8;
const DIAL_TIMEOUT_MS = 3_000;
const HELLO_TIMEOUT_MS = 5_000;
/** A larger key lets a smaller one dial first for this long. */
const DEFER_MS = 3_000;
/** Announced candidates not heard from for this long are forgotten. */
const ANNOUNCE_TTL_MS = 20_000;
const PEER_LIST_TTL_MS = 10 * 60_000;
const PEX_EVERY_MS = 60_000;
const BAN_MS = 60_000;

export interface Candidate {
  host: string;
  port: number;
  /** The static key the peer must have; undefined for static peers (any member will do). */
  key?: Uint8Array;
  /** Segments the peer is known to be in (tried first when dialling). */
  segments: Set<SegmentRuntime>;
  source: "multicast" | "static" | "peer";
  /** The key a static peer turned out to have (it is linked while that key is). */
  learned?: Uint8Array;
  firstSeen: number;
  lastSeen: number;
  failures: number;
  nextTry: number;
}

export interface Peer {
  key: Uint8Array;
  keyHex: string;
  /** Short name for logs: the first 8 bytes of the key, hex. */
  name: string;
  link: Link;
  sync: LinkSync;
  /** Who dialled: their key, or ours. */
  dialledBy: Uint8Array;
  host: string;
  syncPort: number;
  shared: { index: number; segment: SegmentRuntime }[];
  recordsIn: number;
  recordsOut: number;
  rejected: number;
  /** Stored NAR bytes this peer sent us and we sent it. */
  fetched: number;
  served: number;
  /** Bad chunks it sent; at `MAX_STRIKES` it is banned for a while. */
  strikes: number;
  /** Its link's index of a segment's replica, if it shares it. */
  indexOf(replica: Replica): number | undefined;
  send(m: Message | readonly Uint8Array[]): Promise<void>;
  /** Several messages in one write. */
  sendMany(ms: readonly (Message | readonly Uint8Array[])[]): Promise<void>;
  readonly closed: boolean;
  /** The shared segments as the chunk server wants them. */
  replicas: { index: number; replica: Replica }[];
}

export interface PeerManagerOptions {
  staticKey: KeyPair;
  segments: SegmentRuntime[];
  replicas: Map<SegmentRuntime, Replica>;
  bind: string;
  port: number;
  maxPeers: number;
  staticPeers: { host: string; port: number }[];
  log: (msg: string) => void;
  onLink?: (p: Peer) => void;
  onUnlink?: (p: Peer) => void;
  /** Every replication round that finished (for tests and benchmarks). */
  onRoundDone?: (p: Peer, segment: string, result: string) => void;
  /** Answers peers' NAR and chunk requests. */
  chunks?: ChunkServer;
  /** Takes the answers to our own NAR and chunk requests. */
  fetcher?: PeerFetcher;
}

/** Bad chunks after which a peer is banned for `BAN_MS`. */
const MAX_STRIKES = 3;

export class PeerManager {
  readonly peers = new Map<string, Peer>();
  #candidates = new Map<string, Candidate>();
  #dialing = new Set<string>();
  #pending = new Map<string, number>();
  #pendingTotal = 0;
  #banned = new Map<string, number>();
  #listener: Deno.TcpListener | undefined;
  #timers: ReturnType<typeof setInterval>[] = [];
  #stopped = false;
  #loggedAddr = new Set<string>();
  #pexBudget = new TokenBuckets({ rate: 1, burst: 4, maxKeys: 1024 });
  readonly selfHex: string;

  constructor(private opts: PeerManagerOptions) {
    this.selfHex = encodeHex(opts.staticKey.publicKey);
    const now = Date.now();
    for (const sp of opts.staticPeers) {
      this.#candidates.set(`${sp.host}:${sp.port}`, {
        ...sp,
        segments: new Set(),
        source: "static",
        firstSeen: now,
        lastSeen: now,
        failures: 0,
        nextTry: 0,
      });
    }
  }

  /** How many addresses are remembered to dial. */
  get candidateCount(): number {
    return this.#candidates.size;
  }

  /** The port links are accepted on (useful with port 0). */
  get port(): number {
    return (this.#listener?.addr as Deno.NetAddr | undefined)?.port ?? this.opts.port;
  }

  start(): void {
    this.#listener = Deno.listen({ hostname: this.opts.bind, port: this.opts.port });
    void this.#acceptLoop(this.#listener);
    this.#timers.push(setInterval(() => this.#dialRound(), 500));
    this.#timers.push(setInterval(() => this.#sendPeerLists(), PEX_EVERY_MS));
    this.#dialRound();
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    try {
      this.#listener?.close();
    } catch { /* closed */ }
    for (const p of this.peers.values()) {
      p.sync.stop();
      p.link.close("shutting down");
    }
  }

  /** Announced (or listed) peers become candidates; known ones are refreshed. */
  offer(
    c: { key?: Uint8Array; host: string; port: number; segment?: SegmentRuntime },
    source: Candidate["source"],
  ): void {
    if (this.#stopped) return;
    if (c.key && compareBytes(c.key, this.opts.staticKey.publicKey) === 0) return;
    const id = `${c.host}:${c.port}`;
    const now = Date.now();
    const have = this.#candidates.get(id);
    if (have) {
      have.lastSeen = now;
      if (c.segment) have.segments.add(c.segment);
      if (c.key && have.source !== "static") {
        // Another key at this address: start over with it.
        if (!have.key || compareBytes(have.key, c.key) !== 0) {
          have.key = c.key;
          have.failures = 0;
          have.nextTry = 0;
          have.firstSeen = now;
        }
      }
      return;
    }
    let sameHost = 0;
    for (const k of this.#candidates.values()) if (k.host === c.host) sameHost++;
    if (sameHost >= MAX_CANDIDATES_PER_HOST) return;
    if (this.#candidates.size >= MAX_CANDIDATES) this.#evictCandidate();
    if (this.#candidates.size >= MAX_CANDIDATES) return;
    this.#candidates.set(id, {
      host: c.host,
      port: c.port,
      key: c.key,
      segments: new Set(c.segment ? [c.segment] : []),
      source,
      firstSeen: now,
      lastSeen: now,
      failures: 0,
      nextTry: 0,
    });
  }

  #evictCandidate(): void {
    let worst: [string, Candidate] | undefined;
    for (const e of this.#candidates) {
      if (e[1].source === "static") continue;
      if (!worst || e[1].lastSeen < worst[1].lastSeen) worst = e;
    }
    if (worst) this.#candidates.delete(worst[0]);
  }

  #dialRound(): void {
    if (this.#stopped) return;
    const now = Date.now();
    for (const [id, c] of this.#candidates) {
      const ttl = c.source === "multicast" ? ANNOUNCE_TTL_MS : PEER_LIST_TTL_MS;
      if (c.source !== "static" && now - c.lastSeen > ttl) {
        this.#candidates.delete(id);
        continue;
      }
      if (this.#dialing.size >= MAX_DIALS || this.peers.size >= this.opts.maxPeers) continue;
      if (this.#dialing.has(id) || c.nextTry > now) continue;
      if (c.key) {
        const hex = encodeHex(c.key);
        if (this.peers.has(hex) || (this.#banned.get(hex) ?? 0) > now) continue;
        // The smaller key dials; the larger waits a little in case it cannot.
        const mine = this.opts.staticKey.publicKey;
        if (compareBytes(mine, c.key) > 0 && now - c.firstSeen < DEFER_MS) continue;
      } else if (this.#linkedAt(c)) continue;
      this.#dialing.add(id);
      void this.#dial(c).finally(() => this.#dialing.delete(id));
    }
  }

  /** A static peer is linked when the node it led to is, or a link's remote is at its address. */
  #linkedAt(c: Candidate): boolean {
    if (c.learned && this.peers.has(encodeHex(c.learned))) return true;
    for (const p of this.peers.values()) {
      if (p.host === c.host && p.syncPort === c.port) return true;
    }
    return false;
  }

  async #dial(c: Candidate): Promise<void> {
    // Known segments first; a static peer is tried on each of ours in turn.
    const order = [
      ...c.segments,
      ...this.opts.segments.filter((s) => !c.segments.has(s)),
    ].filter((s) => this.opts.segments.includes(s));
    const tries = c.key && c.segments.size ? [...c.segments] : order;
    for (const segment of tries) {
      let conn: Deno.TcpConn;
      try {
        conn = await connectWithTimeout(c.host, c.port, DIAL_TIMEOUT_MS);
      } catch (e) {
        this.#failed(c, `cannot connect: ${(e as Error).message}`);
        return;
      }
      conn.setNoDelay(true);
      const reader = new FrameReader(conn);
      try {
        const session = await initiate(conn, reader, {
          staticKey: this.opts.staticKey,
          segment,
          expectKey: c.key,
        });
        if (!c.key) c.learned = session.remoteKey;
        await this.#established(conn, reader, session, `${c.host}:${c.port}`, c.host);
        c.failures = 0;
        c.nextTry = 0;
        return;
      } catch (e) {
        try {
          conn.close();
        } catch { /* closed */ }
        if (e instanceof HandshakeError && e.reason === "closed" && tries.length > 1) continue;
        this.#failed(c, (e as Error).message);
        return;
      }
    }
    this.#failed(c, "no segment of ours was accepted");
  }

  #failed(c: Candidate, why: string): void {
    c.failures++;
    const backoff = Math.min(600_000, 2_000 * 2 ** Math.min(c.failures - 1, 9));
    c.nextTry = Date.now() + backoff * (0.8 + 0.4 * Math.random());
    const id = `${c.host}:${c.port}`;
    if (!this.#loggedAddr.has(id)) {
      this.#loggedAddr.add(id);
      this.opts.log(`link to ${id} failed: ${why} (retrying with backoff)`);
    }
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        return; // closed
      }
      const host = (conn.remoteAddr as Deno.NetAddr).hostname;
      // Requests are small and answered at once: Nagle's delay would add up to an ACK timer each.
      conn.setNoDelay(true);
      const perHost = this.#pending.get(host) ?? 0;
      if (
        this.#stopped || this.#pendingTotal >= MAX_PENDING || perHost >= MAX_PENDING_PER_HOST ||
        this.peers.size >= this.opts.maxPeers
      ) {
        conn.close();
        continue;
      }
      this.#pending.set(host, perHost + 1);
      this.#pendingTotal++;
      void this.#accept(conn, host).finally(() => {
        this.#pendingTotal--;
        const n = (this.#pending.get(host) ?? 1) - 1;
        if (n <= 0) this.#pending.delete(host);
        else this.#pending.set(host, n);
      });
    }
  }

  async #accept(conn: Deno.TcpConn, host: string): Promise<void> {
    const reader = new FrameReader(conn);
    const addr = `${host}:${(conn.remoteAddr as Deno.NetAddr).port}`;
    try {
      const session = await respond(conn, reader, {
        staticKey: this.opts.staticKey,
        segments: this.opts.segments,
      });
      const hex = encodeHex(session.remoteKey);
      if ((this.#banned.get(hex) ?? 0) > Date.now()) throw new Error("peer is banned for now");
      await this.#established(conn, reader, session, addr, host);
    } catch (e) {
      try {
        conn.close();
      } catch { /* closed */ }
      const id = `in:${host}`;
      if (!this.#loggedAddr.has(id)) {
        this.#loggedAddr.add(id);
        this.opts.log(`refused a link from ${addr}: ${(e as Error).message}`);
      }
    }
  }

  /** After the handshake: hellos both ways, then the link is in service. */
  async #established(
    conn: Deno.TcpConn,
    reader: FrameReader,
    s: Session,
    addr: string,
    host: string,
  ): Promise<void> {
    const link = new Link(conn, reader, s.send, s.receive, addr);
    const tags = ourTags(this.opts.segments, s.handshakeHash, s.initiator);
    await link.send({ t: "hello", version: PROTOCOL_VERSION, syncPort: this.port, tags });
    const t = setTimeout(() => link.close("no hello"), HELLO_TIMEOUT_MS);
    let first: Uint8Array | undefined;
    try {
      first = await link.receive();
    } catch (e) {
      link.close("bad hello");
      if (e instanceof WireError && s.initiator) {
        throw new HandshakeError(
          "not a member",
          `the peer could not prove membership of segment ${s.segment.name}`,
        );
      }
      throw e;
    } finally {
      clearTimeout(t);
    }
    if (!first) throw new HandshakeError("closed", "the peer closed the link before its hello");
    const hello = decodeMessage(first);
    if (hello.t !== "hello") throw new WireError(`expected hello, got ${hello.t}`);
    const shared = sharedSegments(this.opts.segments, s.handshakeHash, s.initiator, hello.tags);
    if (!shared.some((x) => x.segment === s.segment)) {
      throw new WireError("the hello does not prove the handshake's own segment");
    }
    const keyHex = encodeHex(s.remoteKey);
    const dialledBy = s.initiator ? this.opts.staticKey.publicKey : s.remoteKey;
    const existing = this.peers.get(keyHex);
    if (existing) {
      // Both dialled: keep the link dialled by the smaller key (the peer decides alike).
      if (compareBytes(existing.dialledBy, dialledBy) <= 0 && !existing.link.closed) {
        link.close("duplicate link");
        return;
      }
      this.#drop(existing, "replaced by a duplicate link");
    }
    if (this.#stopped) {
      link.close("shutting down");
      return;
    }
    const replicas = shared.map((x) => ({
      index: x.index,
      replica: this.opts.replicas.get(x.segment)!,
    }));
    const peer: Peer = {
      key: s.remoteKey,
      keyHex,
      name: keyHex.slice(0, 16),
      link,
      dialledBy,
      host,
      syncPort: hello.syncPort,
      shared,
      recordsIn: 0,
      recordsOut: 0,
      rejected: 0,
      fetched: 0,
      served: 0,
      strikes: 0,
      replicas,
      indexOf: (r) => replicas.find((x) => x.replica === r)?.index,
      send: (m) => link.send(m),
      sendMany: (ms) => link.sendMany(ms),
      get closed() {
        return link.closed;
      },
      sync: undefined as unknown as LinkSync,
    };
    peer.sync = new LinkSync(
      (m) => link.send(m),
      replicas,
      compareBytes(this.opts.staticKey.publicKey, s.remoteKey) < 0,
      {
        peer: peer.name,
        log: this.opts.log,
        onReceived: (o) => {
          peer.recordsIn += o.changed;
          peer.rejected += Object.values(o.rejected).reduce((a, b) => a + (b ?? 0), 0);
        },
        onRoundDone: (seg, result) => this.opts.onRoundDone?.(peer, seg, result),
        onSent: (n) => peer.recordsOut += n,
      },
    );
    this.peers.set(keyHex, peer);
    this.opts.log(
      `linked with ${peer.name} at ${addr} (${shared.map((x) => x.segment.name).join(", ")})`,
    );
    this.opts.onLink?.(peer);
    peer.sync.start();
    this.#sendPeerList(peer);
    void link.run((bytes) => this.#dispatch(peer, bytes)).then(() => {
      this.#drop(peer, link.closeReason);
    });
  }

  #drop(p: Peer, why: string): void {
    p.sync.stop();
    p.link.close(why);
    if (this.peers.get(p.keyHex) !== p) return;
    this.peers.delete(p.keyHex);
    this.opts.fetcher?.peerGone(p);
    this.opts.log(`link with ${p.name} closed: ${why}`);
    this.opts.onUnlink?.(p);
    // Let the next dial round try it again soon.
    for (const c of this.#candidates.values()) {
      const k = c.key ?? c.learned;
      if (k && compareBytes(k, p.key) === 0) {
        c.failures = 0;
        c.nextTry = Date.now() + 1_000;
      }
    }
  }

  async #dispatch(p: Peer, bytes: Uint8Array): Promise<void> {
    let m: Message;
    try {
      m = decodeMessage(bytes);
    } catch (e) {
      this.#ban(p, `sent a malformed message: ${(e as Error).message}`);
      return;
    }
    try {
      switch (m.t) {
        case "ping":
          await p.link.send({ t: "pong", nonce: m.nonce });
          return;
        case "pong":
          return;
        case "hello":
          throw new WireError("a second hello");
        case "peers":
          this.#takePeerList(p, m.peers);
          return;
        case "nar_req":
        case "chunk_req":
          if (!this.opts.chunks) {
            await p.link.send({ t: "nar_err", req: m.req, error: "not found" });
          } else this.opts.chunks.take(p, m);
          return;
        case "nar_manifest":
        case "chunk":
        case "nar_err":
          this.opts.fetcher?.onAnswer(m);
          return;
        default:
          await p.sync.handle(m);
      }
    } catch (e) {
      if (e instanceof WireError) this.#ban(p, e.message);
      else throw e;
    }
  }

  /** Counts a bad chunk against `p`; bans it after `MAX_STRIKES`. */
  penalize(p: Peer, why: string): void {
    p.strikes++;
    this.opts.log(`${p.name} ${why} (strike ${p.strikes} of ${MAX_STRIKES})`);
    if (p.strikes >= MAX_STRIKES) this.#ban(p, `${p.strikes} bad chunks`);
  }

  #ban(p: Peer, why: string): void {
    this.#banned.set(p.keyHex, Date.now() + BAN_MS);
    if (this.#banned.size > 4096) this.#banned.delete(this.#banned.keys().next().value!);
    this.#drop(p, `protocol violation: ${why}`);
  }

  /** Tells `to` about the other peers it shares a segment with (and so may link to). */
  #sendPeerList(to: Peer): void {
    const peers = [];
    for (const q of this.peers.values()) {
      if (q === to) continue;
      let mask = 0;
      for (const x of to.shared) {
        if (x.index < 32 && q.shared.some((y) => y.segment === x.segment)) mask |= 1 << x.index;
      }
      if (mask) peers.push({ key: q.key, host: q.host, port: q.syncPort, segments: mask >>> 0 });
      if (peers.length >= MAX_PEERS_LISTED) break;
    }
    if (peers.length) to.link.send({ t: "peers", peers }).catch(() => {});
  }

  #sendPeerLists(): void {
    for (const p of this.peers.values()) this.#sendPeerList(p);
  }

  #takePeerList(
    from: Peer,
    list: { key: Uint8Array; host: string; port: number; segments: number }[],
  ) {
    if (!this.#pexBudget.take(from.keyHex)) return;
    for (const e of list) {
      const segs = from.shared.filter((x) => x.index < 32 && (e.segments >>> x.index) & 1);
      if (!segs.length || e.port === 0) continue;
      for (const x of segs) {
        this.offer({ key: e.key, host: e.host, port: e.port, segment: x.segment }, "peer");
      }
    }
  }

  status(): PeerStatus[] {
    return [...this.peers.values()].map((p) => ({
      key: p.keyHex,
      address: p.link.address,
      segments: p.shared.map((x) => x.segment.name),
      since: p.link.opened,
      bytesIn: p.link.bytesIn,
      bytesOut: p.link.bytesOut,
      recordsIn: p.recordsIn,
      recordsOut: p.recordsOut,
      rejected: p.rejected,
      fetchedBytes: p.fetched,
      servedBytes: p.served,
      strikes: p.strikes,
    }));
  }

  /** Kicks the sync of `replica` on every link that shares it. */
  kick(replica: Replica): void {
    for (const p of this.peers.values()) p.sync.kick(replica);
  }
}

async function connectWithTimeout(host: string, port: number, ms: number): Promise<Deno.TcpConn> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = Deno.connect({ hostname: host, port });
  try {
    return await Promise.race([
      pending,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } catch (e) {
    pending.then((c) => c.close(), () => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
