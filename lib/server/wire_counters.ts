/**
 * Counters of what the HTTP drivers answer without the app: narinfo hits and
 * misses, /nix-cache-info, the bytes of those answers, connections refused
 * at the cap and heads answered with an error. On the epoll front they are
 * counted on the worker's thread, so they live in a SharedArrayBuffer the
 * main thread reads when /metrics is scraped: no message per request.
 *
 * Each slot has one writer (the thread that runs the quick route), which
 * adds with plain stores: a Uint32 store is never torn, and an atomic
 * add would cost a locked instruction per request for nothing. Slots wrap
 * at 2^32; `WireCounterReader` turns them into totals by adding the
 * wrapped difference between reads, so it must read at least once per 2^32
 * of increments of any slot (it samples every second: 4 GiB/s of quick
 * answers, far beyond what one thread sends).
 */

/** Slot numbers. */
export const WIRE = {
  narinfoHit: 0,
  narinfoMiss: 1,
  cacheInfo: 2,
  /** Bytes of narinfo answers (status line, fields and body). */
  narinfoBytes: 3,
  /** Bytes of /nix-cache-info answers. */
  cacheInfoBytes: 4,
  /** Connections answered 503 at the connection cap. */
  refused: 5,
  /** Heads answered 400 or 431 by the driver (malformed, too large). */
  badHeads: 6,
} as const;

const SLOTS = 8;

/** Fresh counters in shared memory (a worker can be given its buffer). */
export function newWireCounters(): Uint32Array<SharedArrayBuffer> {
  return new Uint32Array(new SharedArrayBuffer(SLOTS * 4));
}

/** Running totals over the wrapping slots, read by one thread. */
export class WireCounterReader {
  #last = new Uint32Array(SLOTS);
  #total = new Float64Array(SLOTS);

  constructor(readonly counters: Uint32Array) {}

  /** Reads every slot; call at least once per second (see the module doc). */
  sample(): void {
    for (let i = 0; i < SLOTS; i++) {
      const now = Atomics.load(this.counters, i);
      this.#total[i] += (now - this.#last[i]) >>> 0;
      this.#last[i] = now;
    }
  }

  /** The total of slot `i` as of now. */
  total(i: number): number {
    this.sample();
    return this.#total[i];
  }
}
