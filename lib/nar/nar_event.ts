/**
 * What `parseNar` emits and `encodeNarEvents` consumes: a flat, ordered event
 * stream of one NAR (like harmonia's NAR event stream). `path` joins the entry
 * names from the root with "/"; the root itself is "". A regular file is
 * `regular`, zero or more `contents` pieces (views into the input chunks), then
 * `regular-end`; a directory's children come between `directory` and
 * `directory-end`, in NAR (byte-sorted) order.
 */
export type NarEvent =
  | { type: "directory"; path: string }
  | { type: "directory-end"; path: string }
  | { type: "regular"; path: string; executable: boolean; size: number }
  | { type: "contents"; path: string; data: Uint8Array }
  | { type: "regular-end"; path: string }
  | { type: "symlink"; path: string; target: string };
