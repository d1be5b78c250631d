/**
 * Last-access times for gc's LRU order, recorded by `serve` without slowing
 * it: a narinfo hit only sets a Map entry; a timer writes the Map to KV every
 * few seconds (`["access", hashPart] → ms`). Losing the last few seconds on
 * a crash only makes gc think a path a little older than it is.
 */
import { K } from "../kv/keys.ts";
import type { MetaStore } from "../kv/meta_store.ts";
export class AccessRecorder {
  #pending = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private write: (entries: [string, number][]) => Promise<unknown>,
    private everyMs = 5_000,
    private clock: () => number = Date.now,
  ) {}

  /** A recorder writing to the kv backend's `["access", hashPart]` keys. */
  static forMeta(meta: MetaStore, everyMs?: number): AccessRecorder {
    return new AccessRecorder(
      (entries) => meta.applyMany(entries.map(([h, ms]) => ({ key: [...K.access(h)], value: ms }))),
      everyMs,
    );
  }

  /** The `onAccess` hook for `createHandler`: cheap, never throws. */
  readonly record = (hashPart: string): void => {
    this.#pending.set(hashPart, this.clock());
    if (this.#pending.size >= 50_000) void this.flush();
  };

  /** Starts writing every `everyMs`; the timer does not keep the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.flush(), this.everyMs);
    Deno.unrefTimer(this.#timer);
  }

  /** Writes what is pending; failures are reported, never thrown. */
  flush(): Promise<void> {
    if (this.#pending.size === 0) return this.#flushing;
    const batch = [...this.#pending];
    this.#pending = new Map();
    this.#flushing = this.#flushing.then(async () => void await this.write(batch)).catch((e) => {
      console.error(`arca: could not record ${batch.length} access times: ${(e as Error).message}`);
    });
    return this.#flushing;
  }

  /** Stops the timer and writes what is left. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
