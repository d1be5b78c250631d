/**
 * Token buckets per key (a source address, a peer): `rate` tokens a second
 * up to `burst`. At most `maxKeys` buckets are kept; the least recently
 * used goes first, so a flood of new keys cannot grow memory.
 *
 * @module
 */
export class TokenBuckets {
  #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private opts: { rate: number; burst: number; maxKeys: number },
    private now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean {
    const t = this.now();
    let b = this.#buckets.get(key);
    if (b) this.#buckets.delete(key);
    else {
      b = { tokens: this.opts.burst, at: t };
      if (this.#buckets.size >= this.opts.maxKeys) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
    }
    b.tokens = Math.min(this.opts.burst, b.tokens + (t - b.at) * this.opts.rate / 1000);
    b.at = t;
    this.#buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
