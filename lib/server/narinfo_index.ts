/**
 * The narinfo hot path. With the kv backend every narinfo is kept in memory
 * as the exact bytes to send, so a hit or a miss costs one Map lookup and no
 * KV read; changes made by other processes (an `arca import` next to a
 * running `serve`) arrive through the store's change feed. Stores without a
 * feed (filesystem) are asked directly.
 */
import { formatNarinfo } from "../narinfo/mod.ts";
import { parseStorePath } from "../store_path/mod.ts";
import type { Store } from "../store/store.ts";

const enc = new TextEncoder();
/** Re-read a little before the last change seen: clocks of processes differ slightly. */
const OVERLAP_MS = 5_000;

export class NarinfoIndex {
  #map = new Map<string, Uint8Array<ArrayBuffer>>();
  #since = 0;
  #live: boolean;
  #refreshing: Promise<void> | undefined;
  #again = false;

  constructor(private store: Store) {
    this.#live = typeof store.changes === "function" && typeof store.follow === "function";
  }

  get size(): number {
    return this.#map.size;
  }

  /** True when every narinfo is in memory, so `peek` answers alone. */
  get live(): boolean {
    return this.#live;
  }

  /** The in-memory answer (only meaningful when `live`). */
  peek(hashPart: string): Uint8Array<ArrayBuffer> | undefined {
    return this.#map.get(hashPart);
  }

  /** Loads everything and starts following changes until `signal` aborts. */
  async start(signal: AbortSignal): Promise<void> {
    if (!this.#live) return;
    const t0 = Date.now();
    for await (const info of this.store.list()) {
      this.#map.set(parseStorePath(info.storePath).hashPart, enc.encode(formatNarinfo(info)));
    }
    this.#since = t0 - OVERLAP_MS;
    const refresh = () =>
      void this.refresh().catch((e) => {
        console.error(`arca: narinfo index refresh failed (will retry): ${(e as Error).message}`);
      });
    void this.store.follow!(signal, refresh);
  }

  /** The narinfo bytes for a (validated) hash part, or undefined. */
  async get(hashPart: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
    if (this.#live) return this.#map.get(hashPart);
    const info = await this.store.getNarinfo(hashPart);
    return info && enc.encode(formatNarinfo(info));
  }

  /** Applies changes since the last refresh; concurrent calls coalesce. */
  refresh(): Promise<void> {
    if (!this.#live) return Promise.resolve();
    if (this.#refreshing) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      do {
        this.#again = false;
        const t0 = Date.now();
        for await (const ch of this.store.changes!(this.#since)) {
          const info = await this.store.getNarinfo(ch.hashPart);
          if (info) this.#map.set(ch.hashPart, enc.encode(formatNarinfo(info)));
          else this.#map.delete(ch.hashPart);
        }
        this.#since = t0 - OVERLAP_MS;
      } while (this.#again);
    })().finally(() => this.#refreshing = undefined);
    return this.#refreshing;
  }

  /** Forgets a path at once (taken out of service by this process). */
  drop(hashPart: string): void {
    this.#map.delete(hashPart);
  }
}
