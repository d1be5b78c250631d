/**
 * Anti-entropy over one link: for each segment the two peers share, rounds
 * of set reconciliation (see `proto/messages.ts` for the exchange) that end
 * with both holding the union of their states. One side of each link drives
 * the rounds (the one with the smaller static key), the other answers and,
 * when its own set changes, says so with `changed`. Rounds run on start, on
 * every change (debounced) and every `ROUND_EVERY_MS` as a safety net.
 *
 * Cost: equal sets exchange a fingerprint each way; sets that differ by d
 * states exchange a sketch of about 50 bytes per difference (grown until it
 * decodes), then only the states that differ; sets too different for the
 * largest sketch exchange id lists (8 bytes per state); an empty side gets
 * everything without any of that.
 *
 * @module
 */
import { type Id, MAX_LOG, Sketch, sketchLogFor } from "./reconcile/mod.ts";
import { WireError } from "./proto/bytes.ts";
import { MAX_IDS_PER_MESSAGE, MAX_RECORDS_PER_MESSAGE, type Message } from "./proto/messages.ts";
import type { ReceiveOutcome, RejectReason, Replica } from "./replica.ts";

export const ROUND_EVERY_MS = 30_000;
const DEBOUNCE_MS = 200;
/** A round with no message for this long is given up (the link's own timeout catches dead peers). */
const ROUND_IDLE_MS = 30_000;
const RECORD_BATCH_BYTES = 512 * 1024;
/** Refused states remembered per link, not asked for again. */
const MAX_REFUSED = 10_000;
/** Ids a peer may list in one fallback exchange. */
const MAX_LISTED_IDS = 2_000_000;

export interface SharedSegment {
  /** The segment's index on this link. */
  index: number;
  replica: Replica;
}

type SyncMessage = Extract<Message, { seg: number }>;

export interface LinkSyncOptions {
  peer: string;
  log: (msg: string) => void;
  /** Counts states from this peer: accepted and refused by reason. */
  onReceived?: (o: ReceiveOutcome) => void;
  /** A round finished (tests and benchmarks wait for quiet). */
  onRoundDone?: (segment: string, result: string) => void;
  /** States sent to this peer. */
  onSent?: (n: number) => void;
}

interface Inbox {
  round: number;
  queue: SyncMessage[];
  wake?: () => void;
  /** The reader waits here while the queue is full: back-pressure to the peer. */
  room?: () => void;
}

/** Messages of one round waiting for the driving side; the link reads no more meanwhile. */
const INBOX_LIMIT = 4;

function idKey([hi, lo]: Id): number {
  return (hi & 0xfffff) * 2 ** 32 + lo;
}

export class LinkSync {
  #bySeg = new Map<number, SharedSegment>();
  #inbox = new Map<number, Inbox>();
  #running = new Set<number>();
  #dirty = new Set<number>();
  #timers = new Map<number, ReturnType<typeof setTimeout>>();
  #periodic: ReturnType<typeof setInterval> | undefined;
  #round = 0;
  #stopped = false;
  #refused = new Set<number>();
  #listed = new Map<number, { round: number; ids: Id[] }>();
  #loggedRejects = new Set<RejectReason>();

  constructor(
    private send: (m: Message) => Promise<void>,
    readonly shared: SharedSegment[],
    /** True when this side starts the rounds. */
    readonly driver: boolean,
    private opts: LinkSyncOptions,
  ) {
    for (const s of shared) this.#bySeg.set(s.index, s);
  }

  start(): void {
    if (this.driver) {
      for (const s of this.shared) this.kick(s.replica);
      this.#periodic = setInterval(() => {
        for (const s of this.shared) this.kick(s.replica);
      }, ROUND_EVERY_MS * (0.9 + 0.2 * Math.random()));
    }
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#periodic);
    for (const t of this.#timers.values()) clearTimeout(t);
    for (const box of this.#inbox.values()) {
      box.wake?.();
      box.room?.();
    }
  }

  /** `replica` changed here: sync it with this peer soon. */
  kick(replica: Replica): void {
    const s = this.shared.find((x) => x.replica === replica);
    if (!s || this.#stopped) return;
    this.#dirty.add(s.index);
    if (this.#timers.has(s.index)) return;
    this.#timers.set(
      s.index,
      setTimeout(() => {
        this.#timers.delete(s.index);
        if (this.driver) void this.#drive(s);
        else if (this.#dirty.delete(s.index)) {
          this.send({ t: "changed", seg: s.index }).catch(() => {});
        }
      }, DEBOUNCE_MS),
    );
  }

  /** Takes one replication message from the peer. Throws on a protocol violation. */
  async handle(m: SyncMessage): Promise<void> {
    const s = this.#bySeg.get(m.seg);
    if (!s) throw new WireError(`${m.t} names segment ${m.seg}, which this link does not share`);
    if (m.t === "changed") {
      if (this.driver) this.kick(s.replica);
      return;
    }
    if (this.driver) {
      const box = this.#inbox.get(m.seg);
      if (!box || !("round" in m) || m.round !== box.round) return; // a round given up: ignore
      box.queue.push(m);
      box.wake?.();
      while (box.queue.length > INBOX_LIMIT && !this.#stopped && this.#inbox.get(m.seg) === box) {
        await new Promise<void>((r) => box.room = r);
      }
      return;
    }
    await this.#answer(s, m);
  }

  // The driving side.

  async #drive(s: SharedSegment): Promise<void> {
    if (this.#running.has(s.index) || this.#stopped) return;
    this.#running.add(s.index);
    try {
      while (this.#dirty.delete(s.index) && !this.#stopped) {
        const round = ++this.#round;
        const box: Inbox = { round, queue: [] };
        this.#inbox.set(s.index, box);
        let result = "error";
        try {
          result = await this.#driveRound(s, round, box);
        } catch (e) {
          if (this.#stopped) return;
          this.opts.log(
            `sync of ${s.replica.seg.name} with ${this.opts.peer} stopped: ${(e as Error).message}`,
          );
          if (e instanceof WireError) throw e;
        } finally {
          this.#inbox.delete(s.index);
          box.room?.();
        }
        this.opts.onRoundDone?.(s.replica.seg.name, result);
      }
    } finally {
      this.#running.delete(s.index);
    }
  }

  async #next(box: Inbox): Promise<SyncMessage> {
    while (box.queue.length === 0) {
      if (this.#stopped) throw new Error("link closed");
      let t: ReturnType<typeof setTimeout> | undefined;
      const woke = await new Promise<boolean>((resolve) => {
        box.wake = () => resolve(true);
        t = setTimeout(() => resolve(false), ROUND_IDLE_MS);
      });
      clearTimeout(t);
      box.wake = undefined;
      if (!woke) throw new Error(`no answer for ${ROUND_IDLE_MS / 1000} s`);
    }
    const m = box.queue.shift()!;
    const room = box.room;
    box.room = undefined;
    room?.();
    return m;
  }

  async #driveRound(s: SharedSegment, round: number, box: Inbox): Promise<string> {
    const set = s.replica.set;
    const seg = s.index;
    await this.send({
      t: "summary",
      seg,
      round,
      count: set.size,
      digest: set.fingerprint.encode(),
    });
    let m = await this.#next(box);
    if (m.t === "in_sync") return "in sync";
    if (m.t === "records") {
      await this.#absorb(s, m.entries);
      await this.#tail(s, round, box);
      return "received all";
    }
    if (m.t === "want_all") {
      await this.#sendAll(s, round);
      await this.send({ t: "done", seg, round });
      return "sent all";
    }
    for (;;) {
      if (m.t !== "sketch") throw new WireError(`unexpected ${m.t} in a round`);
      const theirs = Sketch.decode(m.cells);
      const diff = set.sketch.fold(theirs.log).subtract(theirs).peel();
      if (diff) {
        await this.#sendStates(s, round, diff.mine);
        const want = diff.theirs.filter((id) => !this.#refused.has(idKey(id)));
        if (want.length === 0) {
          await this.send({ t: "done", seg, round });
        } else {
          for (let i = 0; i < want.length; i += MAX_IDS_PER_MESSAGE) {
            await this.send({ t: "want", seg, round, ids: want.slice(i, i + MAX_IDS_PER_MESSAGE) });
          }
          await this.#tail(s, round, box);
        }
        return `${diff.mine.length} sent, ${want.length} asked for`;
      }
      if (theirs.log >= MAX_LOG) break;
      await this.send({ t: "sketch_req", seg, round, log: Math.min(MAX_LOG, theirs.log + 2) });
      m = await this.#next(box);
    }
    // Too different for the largest sketch: list every id.
    const ids = [...set.slots()].map((x): Id => [x.hi, x.lo]);
    for (let i = 0; i < ids.length || i === 0; i += MAX_IDS_PER_MESSAGE) {
      const part = ids.slice(i, i + MAX_IDS_PER_MESSAGE);
      const last = i + MAX_IDS_PER_MESSAGE >= ids.length;
      await this.send({ t: "ids", seg, round, last, ids: part });
    }
    await this.#tail(s, round, box);
    return "listed ids";
  }

  /** Takes records until `done`; a `want` is answered, then the round ends. */
  async #tail(s: SharedSegment, round: number, box: Inbox): Promise<void> {
    for (;;) {
      const m = await this.#next(box);
      if (m.t === "records") await this.#absorb(s, m.entries);
      else if (m.t === "want") {
        await this.#sendStates(s, round, m.ids);
        await this.send({ t: "done", seg: s.index, round });
        return;
      } else if (m.t === "done") return;
      else throw new WireError(`unexpected ${m.t} in a round`);
    }
  }

  // The answering side.

  async #answer(s: SharedSegment, m: SyncMessage): Promise<void> {
    const set = s.replica.set;
    const seg = s.index;
    switch (m.t) {
      case "summary": {
        this.#listed.delete(seg);
        const mine = set.fingerprint.encode();
        if (m.count === set.size && equalBytes(m.digest, mine)) {
          await this.send({ t: "in_sync", seg, round: m.round });
        } else if (m.count === 0) {
          await this.#sendAll(s, m.round);
          await this.send({ t: "done", seg, round: m.round });
        } else if (set.size === 0) {
          await this.send({ t: "want_all", seg, round: m.round });
        } else {
          // The counts bound the difference from below; both sides may have changed.
          const d = Math.max(8, 2 * Math.abs(m.count - set.size));
          const log = Math.min(MAX_LOG, sketchLogFor(d));
          await this.send({
            t: "sketch",
            seg,
            round: m.round,
            cells: set.sketch.fold(log).encode(),
          });
        }
        return;
      }
      case "sketch_req":
        if (m.log > MAX_LOG) throw new WireError(`sketch of log ${m.log} asked for`);
        await this.send({
          t: "sketch",
          seg,
          round: m.round,
          cells: set.sketch.fold(m.log).encode(),
        });
        return;
      case "records":
        await this.#absorb(s, m.entries);
        return;
      case "want":
        await this.#sendStates(s, m.round, m.ids);
        await this.send({ t: "done", seg, round: m.round });
        return;
      case "ids": {
        let acc = this.#listed.get(seg);
        if (!acc || acc.round !== m.round) this.#listed.set(seg, acc = { round: m.round, ids: [] });
        if (acc.ids.length + m.ids.length > MAX_LISTED_IDS) {
          throw new WireError(`more than ${MAX_LISTED_IDS} ids listed`);
        }
        for (const id of m.ids) acc.ids.push(id);
        if (!m.last) return;
        this.#listed.delete(seg);
        const theirs = new Map(acc.ids.map((id) => [idKey(id), id]));
        const onlyMine: Id[] = [];
        for (const x of set.slots()) {
          if (!theirs.delete(idKey([x.hi, x.lo]))) onlyMine.push([x.hi, x.lo]);
        }
        await this.#sendStates(s, m.round, onlyMine);
        const want = [...theirs.values()].filter((id) => !this.#refused.has(idKey(id)));
        if (want.length) {
          for (let i = 0; i < want.length; i += MAX_IDS_PER_MESSAGE) {
            await this.send({
              t: "want",
              seg,
              round: m.round,
              ids: want.slice(i, i + MAX_IDS_PER_MESSAGE),
            });
          }
        } else await this.send({ t: "done", seg, round: m.round });
        return;
      }
      case "done":
        this.#listed.delete(seg);
        return;
      default:
        throw new WireError(`unexpected ${m.t} from the driving side`);
    }
  }

  // Both sides.

  async #absorb(s: SharedSegment, entries: Uint8Array[]): Promise<void> {
    if (!entries.length) return;
    const out = await s.replica.receive(entries, this.opts.peer);
    for (const id of out.refused) {
      if (this.#refused.size >= MAX_REFUSED) this.#refused.clear();
      this.#refused.add(idKey(id));
    }
    for (const [why, n] of Object.entries(out.rejected) as [RejectReason, number][]) {
      if (!this.#loggedRejects.has(why)) {
        this.#loggedRejects.add(why);
        this.opts.log(
          `refused ${n} narinfo(s) from ${this.opts.peer} on ${s.replica.seg.name}: ${why}` +
            " (further refusals from this peer are only counted)",
        );
      }
    }
    this.opts.onReceived?.(out);
  }

  async #sendStates(s: SharedSegment, round: number, ids: Id[]): Promise<void> {
    for (let i = 0; i < ids.length; i += MAX_RECORDS_PER_MESSAGE) {
      const states = await s.replica.read(ids.slice(i, i + MAX_RECORDS_PER_MESSAGE));
      await this.#sendBatches(s, round, states);
    }
  }

  async #sendAll(s: SharedSegment, round: number): Promise<void> {
    let batch: Uint8Array[] = [];
    for await (const b of s.replica.readAll()) {
      batch.push(b);
      if (batch.length >= MAX_RECORDS_PER_MESSAGE) {
        await this.#sendBatches(s, round, batch);
        batch = [];
      }
    }
    await this.#sendBatches(s, round, batch);
  }

  /** Sends states in messages of at most 256 states and `RECORD_BATCH_BYTES`. */
  async #sendBatches(s: SharedSegment, round: number, states: Uint8Array[]): Promise<void> {
    if (states.length) this.opts.onSent?.(states.length);
    let part: Uint8Array[] = [];
    let bytes = 0;
    for (const st of states) {
      if (part.length && bytes + st.length > RECORD_BATCH_BYTES) {
        await this.send({ t: "records", seg: s.index, round, entries: part });
        part = [];
        bytes = 0;
      }
      part.push(st);
      bytes += st.length + 4;
    }
    if (part.length) await this.send({ t: "records", seg: s.index, round, entries: part });
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
