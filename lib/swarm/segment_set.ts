/**
 * The in-memory side of one segment's replica: for every entry its key, the
 * element id of its current state and whether it is live, plus the sketch
 * and fingerprint of the set of ids, kept up to date with every change so a
 * reconciliation round costs a fold, not a pass over the set. The entries'
 * bytes stay in the entry store (Deno KV): 100,000 entries cost tens of MB
 * here, not the hundreds their bodies would.
 *
 * @module
 */
import { type Id, MAX_LOG, SetFingerprint, Sketch } from "./reconcile/mod.ts";

const RECENT = 16_384;

export interface Slot {
  readonly key: string;
  readonly hi: number;
  readonly lo: number;
  readonly live: boolean;
}

/** 52 bits of an id, a Map key that is a plain number. */
function idKey(hi: number, lo: number): number {
  return (hi & 0xfffff) * 2 ** 32 + lo;
}

export class SegmentSet {
  readonly sketch = new Sketch(MAX_LOG);
  readonly fingerprint = new SetFingerprint();
  #byKey = new Map<string, Slot>();
  // Two states sharing 52 bits of id is rare but possible: keep a list then.
  #byId = new Map<number, Slot | Slot[]>();
  #live = 0;
  // Ids of states replaced lately, and whose entry they were: a peer may ask
  // for a state that changed since it saw our sketch; it gets the newer one.
  #recent = new Map<number, string>();

  get size(): number {
    return this.#byKey.size;
  }

  get liveCount(): number {
    return this.#live;
  }

  get(key: string): Slot | undefined {
    return this.#byKey.get(key);
  }

  /** The entry whose current state has this id. */
  byId([hi, lo]: Id): Slot | undefined {
    const s = this.#byId.get(idKey(hi, lo));
    if (s === undefined) return undefined;
    const list = Array.isArray(s) ? s : [s];
    return list.find((x) => x.hi === hi && x.lo === lo);
  }

  /** The key of the entry whose current or recently replaced state has this id. */
  keyOf(id: Id): string | undefined {
    return this.byId(id)?.key ?? this.#recent.get(idKey(id[0], id[1]));
  }

  /** Records `key`'s new state; returns the slot it replaced. */
  set(key: string, [hi, lo]: Id, live: boolean): Slot | undefined {
    const prev = this.delete(key);
    const slot: Slot = { key, hi, lo, live };
    this.#byKey.set(key, slot);
    const k = idKey(hi, lo);
    const there = this.#byId.get(k);
    if (there === undefined) this.#byId.set(k, slot);
    else this.#byId.set(k, [...(Array.isArray(there) ? there : [there]), slot]);
    this.sketch.add(hi, lo);
    this.fingerprint.add(hi, lo);
    if (live) this.#live++;
    return prev;
  }

  delete(key: string): Slot | undefined {
    const prev = this.#byKey.get(key);
    if (!prev) return undefined;
    this.#byKey.delete(key);
    const k = idKey(prev.hi, prev.lo);
    const there = this.#byId.get(k)!;
    if (Array.isArray(there)) {
      const rest = there.filter((s) => s !== prev);
      if (rest.length === 1) this.#byId.set(k, rest[0]);
      else this.#byId.set(k, rest);
    } else this.#byId.delete(k);
    this.sketch.remove(prev.hi, prev.lo);
    this.fingerprint.remove(prev.hi, prev.lo);
    if (prev.live) this.#live--;
    this.#recent.set(k, key);
    if (this.#recent.size > RECENT) this.#recent.delete(this.#recent.keys().next().value!);
    return prev;
  }

  slots(): IterableIterator<Slot> {
    return this.#byKey.values();
  }
}
