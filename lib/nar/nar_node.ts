/**
 * The input of the NAR encoder: a tree of nodes, built in memory or by a
 * filesystem walker (`lib/io/nar_source.ts`). A directory lists its names
 * and makes a child only when the encoder reaches it, so a walker stats an
 * entry only then.
 *
 * Chunks yielded by `contents()` are handed on by the encoder without
 * copying: a producer must not reuse a chunk's memory after yielding it.
 */

/** One file system object: a regular file, a symlink or a directory. */
export type NarNode =
  | {
    type: "regular";
    executable: boolean;
    /** Exact byte count `contents()` must yield; a mismatch is an error. */
    size: number;
    contents(): AsyncIterable<Uint8Array>;
    /**
     * Optionally, the whole contents at once, read synchronously: what a
     * walker offers for small files, where an async iteration per file
     * cost more than reading it. Used instead of `contents()` when present.
     */
    bytes?(): Uint8Array;
  }
  | { type: "symlink"; target: string }
  | {
    type: "directory";
    /**
     * The entry names in any order, as a fresh array the encoder sorts (by
     * UTF-8 bytes) in place. Names only: a directory is held as one string per
     * entry while it is written (with an object, a thunk and an encoded name
     * per entry, encoding a directory of 18k files peaked at 22 MiB of heap,
     * against 12 MiB now).
     */
    names(): string[] | Promise<string[]>;
    /** The entry called `name`, asked for once, when the encoder reaches it. */
    child(name: string): NarNode | Promise<NarNode>;
  };
