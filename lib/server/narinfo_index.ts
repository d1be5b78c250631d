/**
 * The narinfo hot path. With the kv backend every narinfo is kept in memory
 * as the exact bytes to send, so a hit or a miss costs one Map lookup and no
 * KV read; changes made by other processes (an `arca import` next to a
 * running `serve`) arrive through the store's change feed. Stores without a
 * feed (filesystem) are asked directly.
 *
 * Narinfos of paths known only from swarm peers (`setRemote`) are served
 * the same way; a local narinfo of the same path wins over a remote one.
 *
 * The index loads in the background: a server answers from the first moment
 * it listens, and until every narinfo is in memory (~30 us each: 0.3 s for
 * 10,000 paths) `live` is false and `get` reads the store, one KV read per
 * request, so nothing is answered from a partial index.
 */
import { formatNarinfo } from "../narinfo/mod.ts";
import { HashPartMap, parseStorePath } from "../store_path/mod.ts";
import type { Store } from "../store/store.ts";
import { type FollowableIndex, IndexEntry, SharedBytes } from "./index_entry.ts";

export { IndexEntry };

const enc = new TextEncoder();
/** Re-read a little before the last change seen: clocks of processes differ slightly. */
const OVERLAP_MS = 5_000;

export class NarinfoIndex implements FollowableIndex {
  #map = new HashPartMap<IndexEntry>();
  #remote = new Map<string, IndexEntry>();
  #bytes = new SharedBytes();
  #listeners: ((hashPart: string, entry: IndexEntry | undefined) => void)[] = [];
  #liveListeners: (() => void)[] = [];
  #since = 0;
  /** The store has a change feed: the index can hold everything (kv). */
  #live: boolean;
  /** Every narinfo of the store is in memory (and changes are followed). */
  #loaded = false;
  #loading: Promise<void> | undefined;
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
    return this.#loaded;
  }

  /** Calls `fn` once `live` turns true (after the last entry of the load was announced). */
  onLive(fn: () => void): void {
    this.#liveListeners.push(fn);
  }

  /** The in-memory entry (only meaningful when `live`); any string may be asked for. */
  peek(hashPart: string): IndexEntry | undefined {
    return this.#map.get(hashPart);
  }

  /** `peek` for the hash part in `buf[at, at + 32)`, as a request carries it. */
  peekAt(buf: Uint8Array, at: number): IndexEntry | undefined {
    return this.#map.getAt(buf, at);
  }

  entries(): Iterable<IndexEntry> {
    return this.#map.values();
  }

  onChange(fn: (hashPart: string, entry: IndexEntry | undefined) => void): void {
    this.#listeners.push(fn);
  }

  /**
   * Starts loading everything (once `loadAfter` settles) and following
   * changes until `signal` aborts; resolves at once (`loaded` says when the
   * load is done). A load that fails is tried again a second later;
   * meanwhile lookups read the store.
   */
  start(signal: AbortSignal, loadAfter?: Promise<unknown>): Promise<void> {
    if (!this.#live) return Promise.resolve();
    this.#loading = (loadAfter ?? Promise.resolve()).catch(() => {}).then(() => this.#load(signal));
    const refresh = () =>
      void this.refresh().catch((e) => {
        console.error(`arca: narinfo index refresh failed (will retry): ${(e as Error).message}`);
      });
    void this.store.follow!(signal, refresh);
    return Promise.resolve();
  }

  /** Resolves once every narinfo is in memory (at once for stores without a feed). */
  loaded(): Promise<void> {
    return this.#loading ?? Promise.resolve();
  }

  async #load(signal: AbortSignal): Promise<void> {
    for (;;) {
      const t0 = Date.now();
      try {
        for await (const info of this.store.list()) {
          this.#put(parseStorePath(info.storePath).hashPart, formatNarinfo(info));
        }
        this.#since = t0 - OVERLAP_MS;
        break;
      } catch (e) {
        if (signal.aborted) return;
        console.error(
          `arca: loading the narinfo index failed (will retry): ${(e as Error).message}`,
        );
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    this.#loaded = true;
    for (const fn of this.#liveListeners) fn();
  }

  /** The narinfo bytes for a (validated) hash part, or undefined. */
  async get(hashPart: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
    if (this.#loaded) return this.#map.get(hashPart)?.body.slice();
    const info = await this.store.getNarinfo(hashPart);
    if (info) return enc.encode(formatNarinfo(info));
    // Still loading: a peer's narinfo is served as it will be once loaded.
    return this.#remote.get(hashPart)?.body.slice();
  }

  /** Applies changes since the last refresh; concurrent calls coalesce. */
  refresh(): Promise<void> {
    if (!this.#live) return Promise.resolve();
    if (this.#refreshing) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      // Changes apply over a whole load: one running now may be older than them.
      await this.#loading;
      do {
        this.#again = false;
        const t0 = Date.now();
        for await (const ch of this.store.changes!(this.#since)) {
          const info = await this.store.getNarinfo(ch.hashPart);
          if (info) this.#put(ch.hashPart, formatNarinfo(info));
          else this.#dropLocal(ch.hashPart);
        }
        this.#since = t0 - OVERLAP_MS;
      } while (this.#again);
    })().finally(() => this.#refreshing = undefined);
    return this.#refreshing;
  }

  #put(hashPart: string, narinfo: string): void {
    this.#serve(hashPart, new IndexEntry(hashPart, this.#bytes.copy(enc.encode(narinfo))));
  }

  #serve(hashPart: string, entry: IndexEntry | undefined): void {
    if (entry) this.#map.set(hashPart, entry);
    else if (!this.#map.delete(hashPart)) return;
    for (const fn of this.#listeners) fn(hashPart, entry);
  }

  /** Forgets a path at once (taken out of service by this process). */
  drop(hashPart: string): void {
    this.#dropLocal(hashPart);
  }

  /** The local narinfo is gone: a peer's, if any, is served instead. */
  #dropLocal(hashPart: string): void {
    const remote = this.#remote.get(hashPart);
    if (this.#map.get(hashPart) === remote) return;
    this.#serve(hashPart, remote);
  }

  /** Sets (or, with undefined, removes) the narinfo of a path known from swarm peers. */
  setRemote(hashPart: string, narinfo: string | undefined): void {
    const served = this.#map.get(hashPart);
    const old = this.#remote.get(hashPart);
    const local = served !== undefined && served !== old;
    if (narinfo === undefined) {
      if (!old) return;
      this.#remote.delete(hashPart);
      if (!local) this.#serve(hashPart, undefined);
      return;
    }
    const entry = new IndexEntry(hashPart, this.#bytes.copy(enc.encode(narinfo)));
    this.#remote.set(hashPart, entry);
    if (!local) this.#serve(hashPart, entry);
  }

  /** Narinfos served for peers' paths (a local one of the same path not counted). */
  get remoteSize(): number {
    return this.#remote.size;
  }
}
