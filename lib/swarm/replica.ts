/**
 * One segment's replica: the CRDT of `proto/entry.ts` made durable. States
 * arriving from peers are checked (strict decoding, store path and
 * references, and at least one signature that verifies against the
 * segment's trusted keys; signatures that do not verify are dropped), then
 * merged with what is stored and written back when the merge changed it.
 * This node's own holder register is authoritative: a merged state that
 * says otherwise gets a newer register straight away.
 *
 * Every change goes through one queue per segment, so a read-merge-write
 * never races another.
 *
 * @module
 */
import { parseStorePath, parseStorePathBase } from "../store_path/mod.ts";
import type { AuditEvent } from "../kv/records.ts";
import {
  decodeEntry,
  elementId,
  encodeEntry,
  type Entry,
  entryKey,
  holderOf,
  isLive,
  mergeEntries,
  sameState,
  withHolder,
} from "./proto/entry.ts";
import type { Id } from "./reconcile/mod.ts";
import { SegmentSet } from "./segment_set.ts";
import { type SegmentRuntime, validSigs } from "./segment_runtime.ts";
import type { EntryStore, EntryWrite, LocalPath } from "./ports.ts";
import { encodeHex } from "../encoding/mod.ts";

/** Why an entry from a peer was refused. */
export type RejectReason = "malformed" | "unsigned" | "untrusted key" | "bad signature";

export interface ReceiveOutcome {
  /** Entries whose state changed here. */
  changed: number;
  /** Entries that were new to this node. */
  added: number;
  rejected: Partial<Record<RejectReason, number>>;
  /** Ids of refused states: not worth asking the same peer for again. */
  refused: Id[];
}

export interface ReplicaOptions {
  storeDir: string;
  /** This node's static key: its holder registers. */
  self: Uint8Array;
  clock: NodeClock;
  /** An entry's served state changed: its live state, or undefined when no longer live. */
  onVisible?: (key: string, entry: Entry | undefined) => void;
  /** Our set changed (peers should hear of it). */
  onChange?: () => void;
}

/** Holder clocks: milliseconds, strictly increasing for this node. */
export class NodeClock {
  #last = 0;
  next(): number {
    this.#last = Math.max(this.#last + 1, Date.now());
    return this.#last;
  }
  /** Never go below a clock this node already used (found in stored entries). */
  saw(clock: number): void {
    if (clock > this.#last) this.#last = clock;
  }
}

/** Tombstones (no live holder) untouched this long are forgotten at load. */
export const TOMBSTONE_TTL_MS = 30 * 24 * 3_600_000;

export class Replica {
  readonly set = new SegmentSet();
  /** Keys of entries this node holds (its register says live). */
  readonly held = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly seg: SegmentRuntime,
    private store: EntryStore,
    private opts: ReplicaOptions,
  ) {}

  /** Runs `f` after every change queued before it. */
  #serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(f);
    this.#queue = p.catch(() => {});
    return p;
  }

  /** Loads the stored entries; calls `onVisible` for each live one. */
  load(): Promise<void> {
    return this.#serial(async () => {
      const now = Date.now();
      const forget: EntryWrite[] = [];
      for await (const { key, bytes } of this.store.list(this.seg.name)) {
        let e: Entry;
        try {
          e = decodeEntry(bytes);
        } catch {
          forget.push({ key });
          continue;
        }
        const mine = holderOf(e, this.opts.self);
        if (mine) this.opts.clock.saw(mine.clock);
        const live = isLive(e);
        if (!live && Math.max(...e.holders.map((h) => h.clock), 0) < now - TOMBSTONE_TTL_MS) {
          forget.push({ key });
          continue;
        }
        this.set.set(key, elementId(bytes), live);
        if (mine?.live) this.held.add(key);
        if (live) this.opts.onVisible?.(key, e);
      }
      if (forget.length) await this.store.put(this.seg.name, forget, []);
    });
  }

  /** Merges states from a peer (`peer` names it in audit events). */
  receive(states: Uint8Array[], peer: string): Promise<ReceiveOutcome> {
    return this.#serial(async () => {
      const out: ReceiveOutcome = { changed: 0, added: 0, rejected: {}, refused: [] };
      const refuse = (bytes: Uint8Array, why: RejectReason) => {
        out.rejected[why] = (out.rejected[why] ?? 0) + 1;
        out.refused.push(elementId(bytes));
      };
      const incoming: { key: string; e: Entry; bytes: Uint8Array }[] = [];
      for (const bytes of states) {
        let e: Entry;
        try {
          e = decodeEntry(bytes);
          this.#checkPaths(e);
        } catch {
          refuse(bytes, "malformed");
          continue;
        }
        incoming.push({ key: entryKey(e), e, bytes });
      }
      const stored = await this.#getEntries(incoming.map((x) => x.key));
      const writes: EntryWrite[] = [];
      const audit: AuditEvent[] = [];
      const now = Date.now();
      for (const { key, e, bytes } of incoming) {
        const have = stored.get(key);
        // Signatures we already accepted need no second check.
        const known = new Set(have?.sigs ?? []);
        const fresh = e.sigs.filter((s) => !known.has(s));
        const good = validSigs(e, fresh, this.seg.trusted, this.opts.storeDir);
        if (!have && good.length === 0) {
          refuse(bytes, this.#whyRefused(e));
          continue;
        }
        const checked: Entry = { ...e, sigs: [...e.sigs.filter((s) => known.has(s)), ...good] };
        const next = this.#correctSelf(key, have ? mergeEntries(have, checked) : checked);
        const nextBytes = encodeEntry(next);
        // A state we could not take whole (signatures dropped) would come back every round.
        if (good.length < fresh.length) out.refused.push(elementId(bytes));
        if (have && sameState(encodeEntry(have), nextBytes)) continue;
        stored.set(key, next);
        writes.push({ key, bytes: nextBytes });
        this.#apply(key, have, next, nextBytes);
        out.changed++;
        if (!have) {
          out.added++;
          if (isLive(next)) {
            audit.push({
              type: "SyncReceive",
              time: now,
              path: e.storePath,
              segment: this.seg.name,
              peer,
            });
          }
        }
      }
      await this.#commit(writes, audit);
      return out;
    });
  }

  /**
   * This node holds these paths (routed to this segment; `sigs` only those
   * valid here). Paths already held only get new signatures merged in.
   */
  hold(paths: LocalPath[]): Promise<number> {
    return this.#serial(async () => {
      const all = paths.map((p) => ({ p, key: entryKey(p) }));
      if (!all.length) return 0;
      const stored = await this.#getEntries(all.map((x) => x.key));
      const writes: EntryWrite[] = [];
      for (const { p, key } of all) {
        const base: Entry = {
          storePath: p.storePath,
          narHash: p.narHash,
          narSize: p.narSize,
          references: [...new Set(p.references)].sort(),
          sigs: [...new Set(p.sigs)].sort(),
          holders: [],
        };
        if (p.deriver) base.deriver = p.deriver;
        if (p.ca) base.ca = p.ca;
        const have = stored.get(key);
        const merged = have ? mergeEntries(have, base) : base;
        const next = holderOf(merged, this.opts.self)?.live
          ? merged
          : withHolder(merged, this.opts.self, this.opts.clock.next(), true);
        this.held.add(key);
        const bytes = encodeEntry(next);
        if (have && sameState(encodeEntry(have), bytes)) continue;
        stored.set(key, next);
        writes.push({ key, bytes });
        this.#apply(key, have, next, bytes);
      }
      return await this.#commit(writes, []);
    });
  }

  /** This node no longer holds these entries (gc, or no longer routed here). */
  release(keys: string[]): Promise<number> {
    return this.#serial(async () => {
      const mine = keys.filter((k) => this.held.has(k));
      if (!mine.length) return 0;
      const stored = await this.#getEntries(mine);
      const writes: EntryWrite[] = [];
      for (const key of mine) {
        this.held.delete(key);
        const have = stored.get(key);
        if (!have) continue;
        const next = withHolder(have, this.opts.self, this.opts.clock.next(), false);
        const bytes = encodeEntry(next);
        writes.push({ key, bytes });
        this.#apply(key, have, next, bytes);
      }
      return await this.#commit(writes, []);
    });
  }

  /**
   * The current states of the entries that have (or lately had) the states
   * `ids`; unknown ids are skipped.
   */
  async read(ids: Id[]): Promise<Uint8Array[]> {
    const keys = [...new Set(ids.map((id) => this.set.keyOf(id)).filter((k): k is string => !!k))];
    const got = await this.store.get(this.seg.name, keys);
    return got.filter((b): b is Uint8Array => b !== undefined);
  }

  /** Every stored state, in store order. */
  async *readAll(): AsyncIterable<Uint8Array> {
    for await (const { bytes } of this.store.list(this.seg.name)) yield bytes;
  }

  /** The current state of one entry. */
  async entry(key: string): Promise<Entry | undefined> {
    return (await this.#getEntries([key])).get(key);
  }

  /** Writes changed states (and their audit events); peers hear of it. */
  async #commit(writes: EntryWrite[], audit: AuditEvent[]): Promise<number> {
    if (!writes.length) return 0;
    await this.store.put(this.seg.name, writes, audit);
    this.opts.onChange?.();
    return writes.length;
  }

  async #getEntries(keys: string[]): Promise<Map<string, Entry>> {
    const out = new Map<string, Entry>();
    if (!keys.length) return out;
    const got = await this.store.get(this.seg.name, keys);
    got.forEach((b, i) => {
      if (!b) return;
      try {
        out.set(keys[i], decodeEntry(b));
      } catch { /* a damaged stored state is replaced by whatever arrives */ }
    });
    return out;
  }

  /** Makes this node's register in `e` say what this node knows. */
  #correctSelf(key: string, e: Entry): Entry {
    const mine = holderOf(e, this.opts.self);
    const holds = this.held.has(key);
    if ((mine?.live ?? false) === holds) return e;
    if (!mine && !holds) return e;
    if (mine) this.opts.clock.saw(mine.clock);
    return withHolder(e, this.opts.self, this.opts.clock.next(), holds);
  }

  #apply(key: string, have: Entry | undefined, next: Entry, bytes: Uint8Array): void {
    const live = isLive(next);
    this.set.set(key, elementId(bytes), live);
    const wasLive = have !== undefined && isLive(have);
    if (live || wasLive) this.opts.onVisible?.(key, live ? next : undefined);
  }

  #checkPaths(e: Entry): void {
    parseStorePath(e.storePath, this.opts.storeDir);
    for (const r of e.references) parseStorePathBase(r);
    if (e.deriver !== undefined) parseStorePathBase(e.deriver);
  }

  #whyRefused(e: Entry): RejectReason {
    if (e.sigs.length === 0) return "unsigned";
    const names = new Set(this.seg.trusted.map((k) => k.name));
    return e.sigs.some((s) => names.has(s.slice(0, s.indexOf(":"))))
      ? "bad signature"
      : "untrusted key";
  }
}

/** Short printable name of a node key, for logs and audit events. */
export function nodeName(key: Uint8Array): string {
  return encodeHex(key.subarray(0, 8));
}
