/**
 * Space in one circular buffer, handed out in order and given back in any
 * order: the import pipeline's jobs take a region each for their chunks and
 * results, and a region is reused once every region taken before it is
 * back (a job finished early waits for older ones). Only offsets: the caller
 * owns the bytes.
 *
 * @example
 * ```ts
 * import { ByteRing } from "./_byte_ring.ts";
 * const r = new ByteRing(100);
 * const a = r.take(60)!, b = r.take(30)!;
 * if (r.take(20) !== undefined) throw new Error("only 10 bytes are free");
 * r.give(a);
 * if (r.take(20) !== 0) throw new Error("the region of a is reused from the start");
 * r.give(b);
 * ```
 */
export class ByteRing {
  /** Regions in the order they were taken: [start, end, given back]. */
  #regions: [number, number, boolean][] = [];
  #first = 0;
  #head = 0;

  constructor(readonly size: number) {}

  /** Regions not given back yet. */
  get taken(): number {
    let n = 0;
    for (let i = this.#first; i < this.#regions.length; i++) if (!this.#regions[i][2]) n++;
    return n;
  }

  /** The start of `n` free bytes, or undefined when there is no such room now. */
  take(bytes: number): number | undefined {
    // Empty regions would make a full ring look empty (head back at the tail).
    const n = Math.max(1, bytes);
    if (n > this.size) throw new RangeError(`${n} bytes do not fit in a ring of ${this.size}`);
    const live = this.#first < this.#regions.length;
    const tail = live ? this.#regions[this.#first][0] : this.#head;
    if (!live) {
      // Empty: start again at 0, so a large region fits whenever one can.
      this.#head = 0;
      return this.#push(0, n);
    }
    // Taken regions run from the tail up to the head, around the end if need be.
    if (this.#head === tail) return undefined;
    if (this.#head > tail) {
      if (this.#head + n <= this.size) return this.#push(this.#head, n);
      // Wrap: the end of the buffer is skipped (as a region already given back).
      if (n <= tail) {
        this.#regions.push([this.#head, this.size, true]);
        return this.#push(0, n);
      }
      return undefined;
    }
    return this.#head + n <= tail ? this.#push(this.#head, n) : undefined;
  }

  /** Gives back the region that starts at `start`. */
  give(start: number): void {
    for (let i = this.#first; i < this.#regions.length; i++) {
      const r = this.#regions[i];
      if (r[0] === start && !r[2]) {
        r[2] = true;
        while (this.#first < this.#regions.length && this.#regions[this.#first][2]) this.#first++;
        if (this.#first > 64 && this.#first * 2 > this.#regions.length) {
          this.#regions.splice(0, this.#first);
          this.#first = 0;
        }
        return;
      }
    }
    throw new RangeError(`no region taken at ${start}`);
  }

  /**
   * Shrinks the region at `start` to `n` bytes if it is the last one taken
   * (the rest is free again at once); otherwise it keeps its size until given back.
   */
  trim(start: number, n: number): void {
    const last = this.#regions[this.#regions.length - 1];
    if (!last || last[0] !== start || last[2]) return;
    last[1] = start + Math.max(1, Math.min(n, last[1] - start));
    this.#head = last[1];
  }

  #push(start: number, n: number): number {
    this.#regions.push([start, start + n, false]);
    this.#head = start + n;
    return start;
  }
}
