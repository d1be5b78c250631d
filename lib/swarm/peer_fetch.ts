/**
 * NARs from peers, chunk by chunk, verified as they stream.
 *
 * ```
 *  Nix ─GET peer/<hash>/<NarHash>.nar─▶ open() ─▶ Transfer (one per NAR, shared)
 *        ▲                                  │ manifest from a holder (sizes must add up to NarSize)
 *        │ plain NAR, in order              │ each chunk: held here? read it : ask a peer
 *        └──── sha256 of every chunk ◀──────┘ (several peers, a window of requests)
 *              NarHash before the last bytes ──▶ cache-through: stored and published here
 * ```
 *
 * Never a wrong byte: a chunk is passed on only once its SHA-256 is its id,
 * and the last chunk only once the whole NAR hashes to the signed NarHash;
 * a peer that sends a bad chunk is dropped from the transfer and penalised,
 * a peer that goes away or stops answering is replaced, and when no peer
 * can deliver a chunk the stream fails, which cuts the HTTP response short
 * of its Content-Length (Nix retries elsewhere; it never sees a whole 200
 * with bad bytes). Memory is bounded by the window: chunks are asked for
 * only as the slowest reader (the Nix client or the cache-through store)
 * takes them.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { decodeNix32, encodeNix32, freeBuffer } from "../encoding/mod.ts";
import { decompressChunk } from "../compress/mod.ts";
import type { Compression } from "../compress/mod.ts";
import { compareBytes, type Entry, holderOf } from "./proto/entry.ts";
import {
  type ManifestChunk,
  MAX_MANIFEST_CHUNKS,
  type Message,
  type NarError,
} from "./proto/messages.ts";
import type { NarChunks } from "./ports.ts";
import type { FetchStats } from "../kv/swarm_store.ts";
import type { Replica } from "./replica.ts";

const METHODS: Compression[] = ["none", "zstd", "xz"];
/** Chunks asked for or waiting to be read, ahead of the slowest reader. */
const WINDOW = 64;
const WINDOW_BYTES = 8 * 1024 * 1024;
/** Requests one peer has outstanding in one transfer. */
const PER_PEER = 64;
/**
 * Chunks asked for at once: the window is topped up only when this many
 * places are free, so requests (and the peer's answers) go in runs of
 * one write each, not one write per chunk.
 */
const BATCH = 16;
/** Body pieces for readers that bring no buffer of their own. */
const PIECE_BYTES = 256 * 1024;
const MANIFEST_TIMEOUT_MS = 10_000;
/** A peer that answers "busy" is asked again after this long, up to BUSY_TRIES times a transfer. */
const BUSY_RETRY_MS = 200;
const BUSY_TRIES = 25;
/** With every source gone, other holders are looked for this many times, this far apart. */
const REFRESH_TRIES = 8;
const REFRESH_EVERY_MS = 500;
const CHUNK_TIMEOUT_MS = 20_000;
/** Bytes of a `chunk` message before its data. */
const CHUNK_HEADER = 10;
/** FastCDC's largest chunk: a manifest listing bigger ones is not Arca's. */
const MAX_CHUNK = 256 * 1024;
/** Chunks whose presence here is looked up at once. */
const LOOKUP_BLOCK = 512;

/** A linked peer as the fetcher uses it. */
export interface FetchPeer {
  name: string;
  key: Uint8Array;
  send(m: Message): Promise<void>;
  /** Several messages in one write. */
  sendMany(ms: Message[]): Promise<void>;
  readonly closed: boolean;
  /** This link's index of each segment it shares. */
  indexOf(replica: Replica): number | undefined;
  /** Stored bytes received in answers, for status. */
  fetched: number;
}

export interface PeerFetchOptions {
  nars: NarChunks;
  /** The peers linked now. */
  peers: () => Iterable<FetchPeer>;
  /** A peer sent bytes that are not what it said: count it against the peer. */
  penalize: (peer: FetchPeer, why: string) => void;
  log: (msg: string) => void;
  /** Nothing published here is kept beyond memory: cache-through off (tests). */
  noSave?: boolean;
}

export type { FetchStats };

type Pending = {
  peer: FetchPeer;
  resolve: (m: Extract<Message, { t: "nar_manifest" | "chunk" | "nar_err" }>) => void;
  reject: (e: Error) => void;
  deadline: number;
  ms: number;
};

/** A verified chunk: its plain bytes, and its bytes as a peer sent them (for the store). */
interface Ready {
  plain: Uint8Array;
  stored?: { method: number; data: Uint8Array };
}

class FetchError extends Error {
  override name = "FetchError";
}

/** One source of a NAR: a linked peer that holds the entry, on one segment. */
interface Source {
  peer: FetchPeer;
  seg: number;
  key: string;
  outstanding: number;
  dropped: boolean;
  busy: number;
}

export class PeerFetcher {
  readonly stats: FetchStats = {
    transfers: 0,
    fetchedBytes: 0,
    localChunks: 0,
    peerChunks: 0,
    badChunks: 0,
    failed: 0,
  };
  #transfers = new Map<string, Transfer>();
  #pending = new Map<number, Pending>();
  #req = 0;
  /** Requests made in this turn of the event loop, per peer: sent together, in one write. */
  #outbox = new Map<FetchPeer, Message[]>();
  #sweep: ReturnType<typeof setInterval> | undefined;

  constructor(readonly opts: PeerFetchOptions) {}

  /** Takes an answer to one of our requests. */
  onAnswer(m: Extract<Message, { t: "nar_manifest" | "chunk" | "nar_err" }>): void {
    const p = this.#pending.get(m.req);
    if (!p) return; // given up already
    this.#pending.delete(m.req);
    p.resolve(m);
  }

  /** A peer's link closed: its outstanding requests fail now, not at their timeouts. */
  peerGone(peer: FetchPeer): void {
    for (const [req, p] of this.#pending) {
      if (p.peer !== peer) continue;
      this.#pending.delete(req);
      p.reject(new FetchError(`the link with ${peer.name} closed`));
    }
  }

  /** Sends `m` (built with a fresh request id) and waits for its answer. */
  ask(
    peer: FetchPeer,
    make: (req: number) => Message,
    ms: number,
  ): Promise<Extract<Message, { t: "nar_manifest" | "chunk" | "nar_err" }>> {
    const req = this.#req = (this.#req + 1) >>> 0;
    return new Promise((resolve, reject) => {
      this.#pending.set(req, { peer, resolve, reject, deadline: Date.now() + ms, ms });
      let box = this.#outbox.get(peer);
      if (!box) {
        this.#outbox.set(peer, box = []);
        if (this.#outbox.size === 1) queueMicrotask(() => this.#flush());
      }
      box.push(make(req));
      // One timer for every request: a timer each was a measurable share of a transfer.
      this.#sweep ??= setInterval(() => this.#expire(), 1_000);
    });
  }

  #flush(): void {
    const boxes = [...this.#outbox];
    this.#outbox.clear();
    for (const [peer, msgs] of boxes) {
      peer.sendMany(msgs).catch((e) => {
        for (const m of msgs) {
          const req = (m as { req: number }).req;
          const p = this.#pending.get(req);
          if (!p) continue;
          this.#pending.delete(req);
          p.reject(new FetchError(`${peer.name}: ${(e as Error).message}`));
        }
      });
    }
  }

  #expire(): void {
    const now = Date.now();
    for (const [req, p] of this.#pending) {
      if (p.deadline > now) continue;
      this.#pending.delete(req);
      p.reject(new FetchError(`${p.peer.name} did not answer within ${p.ms / 1000} s`));
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  /**
   * The NAR of `entry` (a live entry of `replicas`' segments) as a stream
   * of plain bytes, once its first chunk is in hand; undefined when no peer
   * can start it (then the caller answers 404).
   */
  async open(
    entry: Entry,
    backers: { replica: Replica; key: string }[],
  ): Promise<{ size: number; body: ReadableStream<Uint8Array> } | undefined> {
    const id = encodeNix32(entry.narHash);
    let t = this.#transfers.get(id);
    if (t && !t.canJoin()) {
      // Too far along to start again from its first byte: wait for its end,
      // then read what it stored here.
      await t.done.catch(() => {});
      t = undefined;
    }
    let reader: Cursor;
    if (t) {
      reader = t.join();
      // It may still be finding its chunk list.
      if (!(await t.start())) return undefined;
    } else {
      const fresh = t = new Transfer(this, entry, backers);
      this.#transfers.set(id, fresh);
      this.stats.transfers++;
      fresh.done.catch(() => {}).finally(() => {
        if (this.#transfers.get(id) === fresh) this.#transfers.delete(id);
      });
      // Joined before anything is read, so no chunk is let go before this reader has it.
      reader = fresh.join();
      if (!(await fresh.start())) return undefined;
    }
    const first = await reader.next().catch(() => undefined);
    if (!first) return undefined;
    return { size: entry.narSize, body: reader.stream(first) };
  }
}

/** A reader's position in a transfer. */
class Cursor {
  at = 0;
  constructor(readonly t: Transfer) {}

  /** The next chunk's plain bytes, or null at the end. Rejects when the transfer failed. */
  async next(): Promise<Uint8Array | null> {
    return (await this.t.read(this))?.plain ?? null;
  }

  /** The rest, chunk by chunk, with the bytes each came in. */
  async *chunks(ids: (i: number) => Uint8Array): AsyncIterable<Ready & { id: Uint8Array }> {
    try {
      for (;;) {
        const i = this.at;
        const r = await this.t.read(this);
        if (!r) return;
        yield { ...r, id: ids(i) };
      }
    } finally {
      this.t.leave(this);
    }
  }

  /**
   * The rest as a byte stream, starting with `first` when one was read
   * already. A reader's buffer (BYOB: the HTTP server reads into one it
   * reuses) is filled with as many ready chunks as fit: one copy, no
   * buffer per chunk, fewer and larger writes to the client.
   */
  stream(first?: Uint8Array | null): ReadableStream<Uint8Array> {
    // The chunk being copied out and how much of it is out already.
    let cur: Uint8Array | null | undefined = first;
    let used = 0;
    return new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: PIECE_BYTES,
      pull: async (ctl) => {
        if (cur === undefined) cur = await this.next();
        if (cur === null) {
          ctl.close();
          ctl.byobRequest?.respond(0);
          return;
        }
        const view = ctl.byobRequest!.view!;
        const into = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
        let n = 0;
        while (cur) {
          const k = Math.min(cur.length - used, into.length - n);
          into.set(cur.subarray(used, used + k), n);
          n += k;
          used += k;
          if (used < cur.length) break; // the view is full
          used = 0;
          // The next one only if it is here already: never wait with bytes in hand.
          const r = n < into.length ? this.t.take(this) : undefined;
          cur = r === null ? null : r?.plain;
        }
        ctl.byobRequest!.respond(n);
      },
      cancel: () => this.t.leave(this),
    }, { highWaterMark: 0 });
  }
}

class Transfer {
  readonly done: Promise<void>;
  #settle!: { ok: () => void; fail: (e: Error) => void };
  #chunks: ManifestChunk[] = [];
  /** Which chunks are held here, looked up a block at a time as the transfer gets to them. */
  #local: boolean[] = [];
  #blocks = new Map<number, Promise<void>>();
  #allKnown = false;
  #sources: Source[] = [];
  /** Verified chunks by index, until every reader passed them. */
  #ready = new Map<number, Ready>();
  #readyBytes = 0;
  #next = 0;
  /** Chunks waiting for a peer with room for one more request. */
  #queued: number[] = [];
  /** The source of the run being asked for and how many more it takes (runs go to one peer). */
  #run: { s: Source; left: number } | undefined;
  #cursors = new Set<Cursor>();
  #wake: (() => void)[] = [];
  #failed: Error | undefined;
  #finished = false;
  #narHasher = createHash("sha256");
  #hashedUpTo = 0;
  #dropped = 0;
  #fetchedBytes = 0;
  #localCount = 0;
  #peersUsed = new Set<string>();
  #saving = true;
  /** Who gave the chunk list (blamed if the chunks do not make the NarHash). */
  #listedBy: Source | undefined;
  #refreshing: Promise<boolean> | undefined;
  /** Chunks waiting while the sources are looked for again. */
  #orphans: number[] = [];

  constructor(
    private f: PeerFetcher,
    readonly entry: Entry,
    private backers: { replica: Replica; key: string }[],
  ) {
    this.done = new Promise((ok, fail) => this.#settle = { ok, fail });
  }

  /** Readers may still join while nothing was dropped for the readers before them. */
  canJoin(): boolean {
    return this.#dropped === 0 && !this.#failed;
  }

  join(): Cursor {
    const c = new Cursor(this);
    this.#cursors.add(c);
    return c;
  }

  leave(c: Cursor): void {
    this.#cursors.delete(c);
    this.#drop();
    this.#pump();
  }

  #started: Promise<boolean> | undefined;

  /**
   * Finds the chunk list (once: readers that join later wait for the same
   * answer); false when the NAR is neither here nor at any linked holder.
   */
  start(): Promise<boolean> {
    return this.#started ??= this.#start();
  }

  async #start(): Promise<boolean> {
    const local = await this.f.opts.nars.manifest(this.entry.narHash);
    const here = local !== undefined && local.narSize === this.entry.narSize;
    if (here) {
      this.#chunks = local.chunks;
    } else {
      this.#sources = this.#findSources();
      const got = await this.#manifest();
      if (!got) {
        this.#fail(new FetchError("no linked peer holding it answered with its chunk list"));
        return false;
      }
      this.#chunks = got;
    }
    if (here) {
      this.#local = this.#chunks.map(() => true);
      this.#allKnown = true;
    } // Only the first block is looked up before the first byte: a GiB is ~15,000 chunks.
    else await this.#lookup(0);
    // A NAR stored here already (an earlier fetch) is only read, not stored again.
    if (!this.f.opts.noSave && !here) this.#save();
    else this.#saving = false;
    this.#pump();
    return true;
  }

  #findSources(entry = this.entry): Source[] {
    const out: Source[] = [];
    for (const peer of this.f.opts.peers()) {
      if (peer.closed) continue;
      for (const { replica, key } of this.backers) {
        const seg = peer.indexOf(replica);
        if (seg === undefined || !holderOf(entry, peer.key)?.live) continue;
        out.push({ peer, seg, key, outstanding: 0, dropped: false, busy: 0 });
        break;
      }
    }
    return out;
  }

  /**
   * Holders that turned up since the transfer began (their state arrived
   * after the entry was read, or their link came up later) join it: the
   * entry is read again and every live holder not yet a source is added.
   * A holder's state may be on its way, so this looks a few times over a
   * few seconds (the client waits; it does not fail) before it says none.
   */
  #refresh(): Promise<boolean> {
    return this.#refreshing ??= (async () => {
      for (let n = 0; n < REFRESH_TRIES && !this.#failed; n++) {
        if (n) await new Promise((r) => setTimeout(r, REFRESH_EVERY_MS));
        if (await this.#addSources()) return true;
      }
      return false;
    })().finally(() => this.#refreshing = undefined);
  }

  async #addSources(): Promise<boolean> {
    const known = new Set(this.#sources.map((s) => s.peer));
    let added = false;
    for (const { replica, key } of this.backers) {
      const e = await replica.entry(key).catch(() => undefined);
      if (!e || compareBytes(e.narHash, this.entry.narHash) !== 0) continue;
      for (const s of this.#findSources(e)) {
        if (known.has(s.peer)) continue;
        known.add(s.peer);
        this.#sources.push(s);
        added = true;
      }
    }
    return added;
  }

  /** The chunk list from the first holder that gives one that adds up. */
  async #manifest(): Promise<ManifestChunk[] | undefined> {
    for (const s of this.#sources) {
      this.#listedBy = s;
      try {
        const chunks: ManifestChunk[] = [];
        let total = Infinity;
        while (chunks.length < total) {
          const m = await this.f.ask(
            s.peer,
            (req) => ({ t: "nar_req", req, seg: s.seg, key: s.key, from: chunks.length }),
            MANIFEST_TIMEOUT_MS,
          );
          if (m.t !== "nar_manifest") throw new FetchError(`answered ${describe(m)}`);
          if (m.narSize !== this.entry.narSize || m.from !== chunks.length) {
            throw new FetchError("its chunk list is of another NAR");
          }
          if (m.chunks.length === 0 && m.total > chunks.length) throw new FetchError("empty page");
          total = m.total;
          chunks.push(...m.chunks);
          if (m.chunks.length < MAX_MANIFEST_CHUNKS && chunks.length < total) {
            throw new FetchError("a short page");
          }
        }
        let sum = 0;
        for (const c of chunks) {
          if (c.ulen <= 0 || c.ulen > MAX_CHUNK) throw new FetchError("a chunk size out of range");
          sum += c.ulen;
        }
        if (sum !== this.entry.narSize || chunks.length !== total) {
          throw new FetchError(`its chunks add up to ${sum} bytes, not ${this.entry.narSize}`);
        }
        return chunks;
      } catch (e) {
        this.f.opts.log(`no chunk list from ${s.peer.name}: ${(e as Error).message}`);
        s.dropped = true;
      }
    }
    return undefined;
  }

  /** Asks for (or reads) chunks up to the window ahead of the slowest reader. */
  #pump(): void {
    if (this.#failed || this.#finished) return;
    const end = Math.min(this.#chunks.length, this.#lowest() + WINDOW);
    // A run at a time, but the last ones (and a first request) whatever their number.
    if (end - this.#next < BATCH && end < this.#chunks.length && this.#next > 0) return;
    while (this.#next < end && this.#readyBytes < WINDOW_BYTES) {
      const i = this.#next++;
      this.#get(i);
    }
  }

  #lowest(): number {
    let low = this.#next;
    for (const c of this.#cursors) low = Math.min(low, c.at);
    return this.#cursors.size ? low : this.#hashedUpTo;
  }

  /** Finds out which chunks of block `b` (and, ahead of need, of the next) are held here. */
  #lookup(b: number): Promise<void> {
    const from = b * LOOKUP_BLOCK;
    if (from >= this.#chunks.length || this.#allKnown) return Promise.resolve();
    let p = this.#blocks.get(b);
    if (!p) {
      const part = this.#chunks.slice(from, from + LOOKUP_BLOCK);
      p = this.f.opts.nars.has(part.map((c) => c.id)).then(
        (held) => held.forEach((h, k) => this.#local[from + k] = h),
        () => {}, // not known: fetched from peers
      );
      this.#blocks.set(b, p);
    }
    return p;
  }

  #get(i: number): void {
    const b = Math.floor(i / LOOKUP_BLOCK);
    void this.#lookup(b + 1);
    if (this.#local[i] === undefined && !this.#allKnown) {
      void this.#lookup(b).then(() => this.#have(i));
      return;
    }
    this.#have(i);
  }

  #have(i: number): void {
    if (this.#local[i]) {
      this.f.opts.nars.localChunk(this.#chunks[i].id).then((b) => {
        if (b && this.#verify(i, b)) {
          this.#localCount++;
          this.f.stats.localChunks++;
          this.#put(i, { plain: b });
        } else {
          this.#local[i] = false; // gone or damaged since: ask a peer
          if (!this.#sources.length) this.#sources = this.#findSources();
          this.#ask(i);
        }
      }, () => {
        this.#local[i] = false;
        this.#ask(i);
      });
      return;
    }
    if (!this.#sources.length) this.#sources = this.#findSources();
    this.#ask(i);
  }

  /** Asks the least busy usable source for chunk `i`. */
  #ask(i: number): void {
    if (this.#failed) return;
    const usable = this.#sources.filter((s) => !s.dropped && !s.peer.closed);
    if (!usable.length) {
      // Every source went: look again for holders before giving up.
      this.#orphans.push(i);
      if (this.#orphans.length > 1) return; // a look is on its way
      void this.#refresh().then((added) => {
        const waiting = this.#orphans;
        this.#orphans = [];
        if (!added) {
          this.#fail(new FetchError(`no peer left that can deliver chunk ${waiting[0]}`));
          return;
        }
        for (const k of waiting) this.#ask(k);
      });
      return;
    }
    // A run of BATCH chunks goes to one peer (it answers them in one write), the next run to
    // the least busy: with several holders each streams runs of its own, side by side.
    let s = this.#run && this.#run.left > 0 && !this.#run.s.dropped && !this.#run.s.peer.closed &&
        this.#run.s.outstanding < PER_PEER
      ? this.#run.s
      : undefined;
    if (s) this.#run!.left--;
    else {
      s = usable.reduce((a, b) => b.outstanding < a.outstanding ? b : a);
      this.#run = { s, left: BATCH - 1 };
    }
    if (s.outstanding >= PER_PEER) {
      // Every peer is busy: asked for when one answers.
      this.#queued.push(i);
      return;
    }
    s.outstanding++;
    const c = this.#chunks[i];
    this.f.ask(
      s.peer,
      (req) => ({ t: "chunk_req", req, seg: s.seg, key: s.key, index: i, id: c.id }),
      CHUNK_TIMEOUT_MS,
    ).then((m) => {
      s.outstanding--;
      this.#unqueue();
      if (m.t === "nar_err" && m.error === "busy" && ++s.busy <= BUSY_TRIES) {
        // Its queue is full (other transfers too): asked again shortly, not dropped.
        setTimeout(() => this.#ask(i), BUSY_RETRY_MS);
        return;
      }
      if (m.t !== "chunk") {
        s.dropped = true;
        this.f.opts.log(`${s.peer.name} did not give chunk ${i}: ${describe(m)}`);
        return this.#ask(i);
      }
      const method = METHODS[m.method];
      let plain: Uint8Array | undefined;
      try {
        plain = method ? decompressChunk(m.data, method, c.ulen) : undefined;
      } catch { /* a bad chunk, as below */ }
      if (!plain || !this.#verify(i, plain)) {
        this.f.stats.badChunks++;
        // One strike per transfer: its other answers in flight are as bad.
        if (!s.dropped) {
          this.f.opts.penalize(s.peer, `sent a bad chunk ${i} of ${this.entry.storePath}`);
        }
        s.dropped = true;
        return this.#ask(i);
      }
      s.peer.fetched += m.data.length;
      this.#fetchedBytes += m.data.length;
      this.f.stats.fetchedBytes += m.data.length;
      this.f.stats.peerChunks++;
      this.#peersUsed.add(s.peer.name);
      this.#put(i, { plain, stored: { method: m.method, data: m.data } });
    }, (e) => {
      s.outstanding--;
      this.#unqueue();
      s.dropped = true;
      this.f.opts.log(`chunk ${i} from ${s.peer.name}: ${(e as Error).message}`);
      this.#ask(i);
    });
  }

  /** A request finished: a queued chunk takes its place. */
  #unqueue(): void {
    const i = this.#queued.shift();
    if (i !== undefined) this.#ask(i);
  }

  #verify(i: number, plain: Uint8Array): boolean {
    const c = this.#chunks[i];
    if (plain.length !== c.ulen) return false;
    const d = createHash("sha256").update(plain).digest();
    return compareBytes(new Uint8Array(d.buffer, d.byteOffset, 32), c.id) === 0;
  }

  #put(i: number, r: Ready): void {
    if (this.#failed) return;
    this.#ready.set(i, r);
    this.#readyBytes += r.plain.length + (r.stored?.data.length ?? 0);
    const w = this.#wake;
    this.#wake = [];
    for (const r of w) r();
  }

  /** The next chunk for `c`, in order; the last one only after the NarHash matched. */
  async read(c: Cursor): Promise<Ready | null> {
    for (;;) {
      const r = this.take(c);
      if (r !== undefined) return r;
      await new Promise<void>((r) => this.#wake.push(r));
    }
  }

  /** `read` without waiting: undefined when the next chunk is not here yet. */
  take(c: Cursor): Ready | null | undefined {
    if (this.#failed) throw this.#failed;
    if (c.at >= this.#chunks.length) {
      this.#cursors.delete(c);
      return null;
    }
    const b = this.#ready.get(c.at);
    if (!b) return undefined;
    // Hash in order as the first reader gets there.
    while (this.#hashedUpTo <= c.at) {
      const h = this.#ready.get(this.#hashedUpTo);
      if (!h) break;
      this.#narHasher.update(h.plain);
      this.#hashedUpTo++;
    }
    if (c.at === this.#chunks.length - 1 && !this.#finished) this.#finish();
    if (this.#failed) throw this.#failed;
    c.at++;
    this.#drop();
    this.#pump();
    return b;
  }

  /** All chunks are in and hashed: the NAR must be the signed one before its end is passed on. */
  #finish(): void {
    const d = new Uint8Array(this.#narHasher.digest());
    if (compareBytes(d, this.entry.narHash) !== 0) {
      if (this.#listedBy) {
        this.f.opts.penalize(
          this.#listedBy.peer,
          `listed chunks of another NAR for ${this.entry.storePath}`,
        );
      }
      this.#fail(
        new FetchError(
          `the chunks make a NAR with hash ${encodeNix32(d)}, not the signed ${
            encodeNix32(this.entry.narHash)
          }: a peer gave a wrong chunk list`,
        ),
      );
      return;
    }
    this.#finished = true;
    if (!this.#saving) this.#settle.ok();
  }

  /**
   * Chunks every reader has passed are let go (in order: each is looked at
   * once), and their memory freed at once. A reader may still be using the
   * chunk it took last (the store appends it, the HTTP body copies it out),
   * so that one is kept until it takes the next.
   */
  #drop(): void {
    const upTo = Math.min(this.#lowest() - 1, this.#hashedUpTo);
    for (; this.#dropped < upTo; this.#dropped++) {
      const r = this.#ready.get(this.#dropped);
      if (!r) continue;
      this.#ready.delete(this.#dropped);
      this.#readyBytes -= r.plain.length + (r.stored?.data.length ?? 0);
      // Both are this transfer's own: decoded here, and the message the peer's answer came in.
      freeBuffer(r.plain);
      if (r.stored) freeBuffer(r.stored.data, CHUNK_HEADER);
    }
  }

  #fail(e: Error): void {
    if (this.#failed) return;
    this.#failed = e;
    this.f.stats.failed++;
    this.f.opts.log(`fetching ${this.entry.storePath} failed: ${e.message}`);
    this.#ready.clear();
    const w = this.#wake;
    this.#wake = [];
    for (const r of w) r();
    this.#settle.fail(e);
  }

  #detail() {
    return {
      bytesFromPeers: this.#fetchedBytes,
      chunksFromPeers: this.#chunks.length - this.#localCount,
      chunksHere: this.#localCount,
      peers: [...this.#peersUsed],
    };
  }

  /** Cache-through: a reader that stores what arrives, and publishes the path at the end. */
  #save(): void {
    const c = this.join();
    const e = this.entry;
    const segments = [...new Set(this.backers.map((b) => b.replica.seg.name))];
    const path = {
      storePath: e.storePath,
      narHash: e.narHash,
      narSize: e.narSize,
      references: e.references,
      deriver: e.deriver,
      ca: e.ca,
      sigs: e.sigs,
      segments,
      detail: {},
    };
    const chunks = this.#chunks;
    const counted = (async function* (t: Transfer) {
      yield* c.chunks((i) => chunks[i].id);
      path.detail = t.#detail();
    })(this);
    this.f.opts.nars.save(path, counted).then((how) => {
      this.f.opts.log(
        `${how} ${e.storePath} (${this.#fetchedBytes} bytes from ${
          [...this.#peersUsed].join(", ") || "no peer"
        }, ${this.#localCount} of ${this.#chunks.length} chunks held here)`,
      );
      this.#settle.ok();
    }, (err) => {
      this.f.opts.log(`keeping ${e.storePath} here failed: ${(err as Error).message}`);
      this.leave(c);
      if (this.#failed) this.#settle.fail(this.#failed);
      else this.#settle.ok();
    });
  }
}

function describe(m: Message): string {
  return m.t === "nar_err" ? (m as { error: NarError }).error : m.t;
}

/** The NarHash in a `peer/` URL, checked. */
export function narHashOfName(name32: string): Uint8Array | undefined {
  try {
    const d = decodeNix32(name32);
    return d.length === 32 ? d : undefined;
  } catch {
    return undefined;
  }
}
