/**
 * One narinfo as the server keeps it in memory: the exact bytes to send, in
 * shared memory. The epoll front's worker answers narinfo requests from its
 * own copy of the index; entries posted to it carry views of the same
 * SharedArrayBuffers, so a cache's narinfos are held once, not once per
 * thread. Bytes are written once, before an entry is made, and never
 * changed (a changed narinfo is a new entry), so readers need no locking.
 */

export class IndexEntry {
  constructor(
    /** The index's own key: handing this string on (access times) compares by identity. */
    readonly hashPart: string,
    /** The exact bytes to send (a view of shared memory: copy it for a `Response`). */
    readonly body: Uint8Array<SharedArrayBuffer>,
  ) {}
}

/** What the quick route needs of an index: present entries by the bytes of a request. */
export interface EntryLookup {
  /** True when every narinfo is in memory, so a lookup that finds nothing is a miss. */
  readonly live: boolean;
  /** The entry for the hash part in `buf[at, at + 32)`. */
  peekAt(buf: Uint8Array, at: number): IndexEntry | undefined;
}

/** An index whose entries another thread can follow (the epoll front's worker). */
export interface FollowableIndex extends EntryLookup {
  entries(): Iterable<IndexEntry>;
  /** Calls `fn` on every change from now on: the new entry, or undefined when removed. */
  onChange(fn: (hashPart: string, entry: IndexEntry | undefined) => void): void;
  /** Calls `fn` once `live` turns true, after the changes that made it complete. */
  onLive(fn: () => void): void;
}

/**
 * Bump allocation of narinfo bytes in 256 KiB shared slabs (a narinfo is
 * ~0.5-2 KB). A slab is freed once no entry in it is left; space of removed
 * entries is not reused before then.
 */
const SLAB = 256 * 1024;
const OWN = 16 * 1024;

export class SharedBytes {
  #slab = new SharedArrayBuffer(SLAB);
  #used = 0;

  copy(bytes: Uint8Array): Uint8Array<SharedArrayBuffer> {
    const n = bytes.length;
    if (n > OWN) {
      const own = new Uint8Array(new SharedArrayBuffer(n));
      own.set(bytes);
      return own;
    }
    if (this.#used + n > SLAB) {
      this.#slab = new SharedArrayBuffer(SLAB);
      this.#used = 0;
    }
    const view = new Uint8Array(this.#slab, this.#used, n);
    view.set(bytes);
    // 8-byte aligned starts keep copies out of them fast.
    this.#used += (n + 7) & ~7;
    return view;
  }
}
