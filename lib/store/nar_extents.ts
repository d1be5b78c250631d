/**
 * Where a stored NAR file's bytes are, as few reads as possible: its chunks
 * merged into extents, one per stretch of chunks stored back to back in one
 * pack. A NAR imported whole (nothing deduplicated) is one extent; a NAR that
 * shares chunks with others is a few more.
 */
import type { Manifest } from "./manifest.ts";
import { type CacheLayout, packPath } from "../blob/cache_layout.ts";
import type { FilePart } from "../blob/file_body.ts";

export interface Extent {
  pack: string;
  /** Offset in the pack. */
  offset: number;
  length: number;
}

const memo = new WeakMap<Manifest, Extent[]>();

/** The manifest's extents in NAR file order (memoized per manifest object). */
export function narExtents(m: Manifest): Extent[] {
  let out = memo.get(m);
  if (out) return out;
  out = [];
  let last: Extent | undefined;
  for (const c of m.chunks) {
    if (last && last.pack === c.pack && last.offset + last.length === c.offset) {
      last.length += c.clen;
    } else {
      last = { pack: c.pack, offset: c.offset, length: c.clen };
      out.push(last);
    }
  }
  memo.set(m, out);
  return out;
}

const endsMemo = new WeakMap<Manifest, Map<string, number>>();

/**
 * How long each pack the NAR uses must be: checked on every download, so
 * made once per manifest object from its extents rather than per request
 * from its chunks (16k of them for a 1 GiB NAR).
 */
export function packEnds(m: Manifest): Map<string, number> {
  let ends = endsMemo.get(m);
  if (ends) return ends;
  ends = new Map();
  for (const e of narExtents(m)) {
    ends.set(e.pack, Math.max(ends.get(e.pack) ?? 0, e.offset + e.length));
  }
  endsMemo.set(m, ends);
  return ends;
}

/** Bytes [start, end) of a NAR file stored as `extents`, as parts of pack files. */
export function extentParts(
  layout: CacheLayout,
  extents: readonly Extent[],
  start: number,
  end: number,
  /** The file of a pack, when packs are not all under `layout.packs` (several storages). */
  pathOf: (packId: string) => string = (p) => packPath(layout, p),
): FilePart[] {
  const parts: FilePart[] = [];
  let at = 0;
  for (const e of extents) {
    if (at >= end) break;
    const from = Math.max(start, at);
    const to = Math.min(end, at + e.length);
    if (from < to) {
      parts.push({
        path: pathOf(e.pack),
        offset: e.offset + from - at,
        length: to - from,
      });
    }
    at += e.length;
  }
  return parts;
}
