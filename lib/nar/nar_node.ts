/**
 * The input of the NAR encoder: a tree of nodes, built in memory or by a
 * filesystem walker (`lib/io/nar_source.ts`). Directory entries may hold a
 * thunk instead of a node so a walker only stats an entry when the encoder
 * reaches it.
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
    /** Entries in any order; the encoder sorts them by their UTF-8 bytes. */
    entries(): AsyncIterable<NarDirEntry> | Iterable<NarDirEntry>;
  };

/** A named child of a directory; `node` may be resolved lazily. */
export interface NarDirEntry {
  name: string;
  node: NarNode | (() => Promise<NarNode>);
}
