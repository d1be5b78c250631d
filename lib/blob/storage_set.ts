/**
 * Several blob stores behind one cache, and the rule that picks where the
 * next pack goes:
 *
 * | strategy | the next pack goes to |
 * |---|---|
 * | `in-order` | the first storage (config order) with room; fill it, then the next |
 * | `round-robin` | the next storage in turn |
 * | `split` | the storage furthest below its share (`weight`, e.g. 70/30) of the bytes stored |
 * | `least-used` | the storage holding the fewest bytes |
 *
 * A storage is skipped while it is full (its `max_bytes` would be passed,
 * or it said so) or failing (an error within the last `COOL_MS`): writes go
 * to the others, in the same order. Where each pack went is the caller's to
 * record (the pack's KV record); reads then go straight there.
 */
import { type BlobStore, StorageFullError } from "./blob_store.ts";

export type Strategy = "in-order" | "round-robin" | "split" | "least-used";
export const STRATEGIES: readonly Strategy[] = ["in-order", "round-robin", "split", "least-used"];

export interface StorageEntry {
  name: string;
  store: BlobStore;
  /** Bytes this storage may hold; undefined: no limit but the store's own. */
  maxBytes?: number;
  /** Share for `split` (any positive numbers; they are normalized). */
  weight?: number;
}

/** How long a storage that failed or said it is full is skipped for writes. */
const COOL_MS = 30_000;

export class StorageSet {
  #byName = new Map<string, StorageEntry>();
  #usage = new Map<string, number>();
  #down = new Map<string, { until: number; why: string }>();
  #next = 0;

  /**
   * `writable` are the cache's storages in config order (writes go there);
   * `readOnly` are only read (the cache dir's own packs, after a move to S3).
   */
  constructor(
    readonly writable: readonly StorageEntry[],
    readonly strategy: Strategy = "in-order",
    readOnly: readonly StorageEntry[] = [],
    readonly now: () => number = Date.now,
  ) {
    if (writable.length === 0) throw new RangeError("a cache needs at least one storage");
    for (const e of [...writable, ...readOnly]) {
      if (this.#byName.has(e.name)) throw new RangeError(`storage "${e.name}" is named twice`);
      this.#byName.set(e.name, e);
    }
  }

  get(name: string): StorageEntry | undefined {
    return this.#byName.get(name);
  }

  all(): StorageEntry[] {
    return [...this.#byName.values()];
  }

  /** Bytes of packs the storage holds, as far as this process knows. */
  usage(name: string): number {
    return this.#usage.get(name) ?? 0;
  }

  /** Sets the known usage (from the pack records, at open). */
  setUsage(name: string, bytes: number): void {
    this.#usage.set(name, bytes);
  }

  /** Counts `bytes` written to (or, negative, deleted from) a storage. */
  added(name: string, bytes: number): void {
    this.#usage.set(name, Math.max(0, this.usage(name) + bytes));
    // Deleting makes room: a storage that was full is worth trying again.
    if (bytes < 0 && this.#down.get(name)?.why === "full") this.#down.delete(name);
  }

  /** Skips the storage for writes for a while: it failed (`error`) or is full. */
  failed(name: string, error: unknown): void {
    const why = error instanceof StorageFullError ? "full" : String((error as Error)?.message);
    this.#down.set(name, { until: this.now() + COOL_MS, why });
  }

  /** Why a storage is skipped for writes now, or undefined. */
  skipped(name: string): string | undefined {
    const d = this.#down.get(name);
    if (!d) return undefined;
    if (d.until <= this.now()) {
      this.#down.delete(name);
      return undefined;
    }
    return d.why;
  }

  /**
   * The storages to try for a write of `bytes`, best first: the strategy's
   * choice, then the others in config order; full and failing ones left out
   * (if every one is, all of them, so the write fails with a real error).
   */
  order(bytes: number): StorageEntry[] {
    const list = this.writable;
    const fits = (e: StorageEntry) =>
      !this.skipped(e.name) &&
      (e.maxBytes === undefined || this.usage(e.name) + bytes <= e.maxBytes);
    const open = list.filter(fits);
    if (open.length === 0) return [...list];
    let first: StorageEntry;
    switch (this.strategy) {
      case "in-order":
        first = open[0];
        break;
      case "round-robin": {
        // The next one in config order from the last pick that can take it.
        const n = list.length;
        let k = 0;
        while (k < n && !fits(list[(this.#next + k) % n])) k++;
        first = list[(this.#next + k) % n];
        this.#next = (this.#next + k + 1) % n;
        break;
      }
      case "least-used":
        first = open.reduce((a, b) => this.usage(b.name) < this.usage(a.name) ? b : a);
        break;
      case "split": {
        const total = open.reduce((n, e) => n + this.usage(e.name), 0) + bytes;
        const weights = open.reduce((n, e) => n + (e.weight ?? 1), 0);
        // The largest gap between its share and what it holds once this write lands.
        const gap = (e: StorageEntry) =>
          (e.weight ?? 1) / weights - (this.usage(e.name) + bytes) / total;
        first = open.reduce((a, b) => gap(b) > gap(a) ? b : a);
        break;
      }
    }
    return [first, ...open.filter((e) => e !== first)];
  }
}
