/**
 * NAR files the epoll front's worker may answer by itself: once the app has
 * served a NAR file (after every check a NAR gets before its first byte),
 * its parts are shared with the worker, which then sends later requests for
 * it (whole, a Range, or a HEAD) with sendfile from descriptors it keeps
 * open, without a message to the main thread and back, until the checks
 * are due again. A request the worker cannot answer exactly as the app
 * would (an If-None-Match, a Range it cannot satisfy, an expired entry, a
 * pack it cannot open or finds short) goes to the app as before.
 */

/** A NAR file as the worker serves it. */
export interface SharedNar {
  /** The name under `/nar/`, e.g. `<fileHash32>.nar.zst`. */
  name: string;
  size: number;
  contentType: string;
  /** `[path, offset, length]` of each part of the file, in order. */
  parts: [string, number, number][];
  /** Epoch ms until which the app's checks stand (then it checks again). */
  until: number;
}

/** At most this many NARs are shared; the oldest shared first goes first. */
const MAX_SHARED = 4096;

export class NarTable {
  #nars = new Map<string, { nar: SharedNar; onShort: (message: string) => Promise<void> }>();
  #listeners: ((name: string, nar: SharedNar | undefined) => void)[] = [];

  constructor(
    /** Told of every response the worker gave (audit's Serve events). */
    private onServed: (name: string, status: number, bytes: number) => void = () => {},
  ) {}

  get size(): number {
    return this.#nars.size;
  }

  /** Shares a checked NAR; `onShort` takes it out of service if a part turns out short. */
  put(nar: SharedNar, onShort: (message: string) => Promise<void>): void {
    const had = this.#nars.get(nar.name);
    this.#nars.delete(nar.name);
    this.#nars.set(nar.name, { nar, onShort });
    if (this.#nars.size > MAX_SHARED) this.drop(this.#nars.keys().next().value!);
    if (!had || had.nar.until !== nar.until || !sameParts(had.nar, nar)) this.#tell(nar.name, nar);
  }

  /** Stops sharing it (gone, damaged, or not local any more). */
  drop(name: string): void {
    if (this.#nars.delete(name)) this.#tell(name, undefined);
  }

  get(name: string): SharedNar | undefined {
    return this.#nars.get(name)?.nar;
  }

  entries(): Iterable<SharedNar> {
    return [...this.#nars.values()].map((e) => e.nar);
  }

  onChange(fn: (name: string, nar: SharedNar | undefined) => void): void {
    this.#listeners.push(fn);
  }

  /** The worker answered a request for `name`. */
  served(name: string, status: number, bytes: number): void {
    this.onServed(name, status, bytes);
  }

  /** The worker found a part of `name` short while sending it: damage. */
  async short(name: string, message: string): Promise<void> {
    const e = this.#nars.get(name);
    this.drop(name);
    await e?.onShort(message);
  }

  #tell(name: string, nar: SharedNar | undefined): void {
    for (const fn of this.#listeners) fn(name, nar);
  }
}

function sameParts(a: SharedNar, b: SharedNar): boolean {
  if (a.parts.length !== b.parts.length) return false;
  return a.parts.every((p, i) =>
    p[0] === b.parts[i][0] && p[1] === b.parts[i][1] && p[2] === b.parts[i][2]
  );
}
