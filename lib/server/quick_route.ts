/**
 * The answers `serveHttp` writes without building a Request or Response:
 * narinfo hits and misses and /nix-cache-info, as whole HTTP responses in
 * bytes, from the in-memory index. This is the path Nix hits hardest (one
 * narinfo per closure member, most of them misses on a busy substituter
 * list), so it costs a Map lookup and one buffer copy. The same answers go
 * through `createHandler` for anything that is not a plain GET or HEAD.
 */
import { concatBytes } from "../encoding/mod.ts";
import { formatResponseHead } from "../http1/mod.ts";
import type { QuickAnswer } from "./read_head.ts";
import type { EntryLookup, IndexEntry } from "./index_entry.ts";
import { newWireCounters, WIRE } from "./wire_counters.ts";

/** Fields of a narinfo answer (before Content-Length), shared with the handler. */
export const NARINFO_FIELDS: [string, string][] = [
  ["content-type", "text/x-nix-narinfo"],
  ["cache-control", "public, max-age=60"],
];
export const NOT_FOUND_FIELDS: [string, string][] = [
  ["content-type", "text/plain"],
  ["cache-control", "no-store"],
];
export const NOT_FOUND_BODY = "not found\n";

export interface QuickRouteDeps {
  index: EntryLookup;
  cacheInfo: Uint8Array;
  onAccess?: (hashPart: string) => void;
  /** Where answers are counted (wire_counters.ts); this thread must be their only writer. */
  counters?: Uint32Array;
}

const enc = new TextEncoder();

const NARINFO_SUFFIX = enc.encode(".narinfo");
const CACHE_INFO_PATH = enc.encode("/nix-cache-info");
const NARINFO_TARGET_LENGTH = 41; // "/" + 32 + ".narinfo"

export function createQuickRoute(deps: QuickRouteDeps): QuickAnswer {
  const { index } = deps;
  // Counted always (into scratch counters when none are given): no branch per answer.
  const n = deps.counters ?? newWireCounters();
  // Heads carry the Date field, so they are rebuilt when its text changes (once a second).
  let date = "";
  let narinfoPrefix = "";
  let missGet: Uint8Array = new Uint8Array();
  let missHead: Uint8Array = new Uint8Array();
  let infoGet: Uint8Array = new Uint8Array();
  let infoHead: Uint8Array = new Uint8Array();
  // Whole hit responses, built at most once per entry and second: the hot
  // paths of a closure are asked for over and over. Keyed by the entry
  // object (identity): a narinfo changed in the index is a new entry.
  let hits = new Map<IndexEntry, Uint8Array>();
  const rebuild = (d: string) => {
    date = d;
    hits = new Map();
    const dated = (f: [string, string][]) => [...f, ["date", d]] as [string, string][];
    const fixed = (status: number, fields: [string, string][], body: Uint8Array) => {
      const head = enc.encode(
        formatResponseHead(status, [...dated(fields), ["content-length", String(body.length)]]),
      );
      return [head, concatBytes([head, body])];
    };
    [missHead, missGet] = fixed(404, NOT_FOUND_FIELDS, enc.encode(NOT_FOUND_BODY));
    [infoHead, infoGet] = fixed(
      200,
      [["content-type", "text/x-nix-cache-info"], ["cache-control", "public, max-age=300"]],
      deps.cacheInfo,
    );
    // Everything up to the Content-Length value.
    narinfoPrefix = formatResponseHead(200, dated(NARINFO_FIELDS)).slice(0, -2) +
      "content-length: ";
  };

  return (buf, from, to, head, d) => {
    if (!index.live) return undefined;
    if (d !== date) rebuild(d);
    const length = to - from;
    if (
      length === NARINFO_TARGET_LENGTH && buf[from] === SLASH &&
      bytesAt(buf, to - NARINFO_SUFFIX.length, NARINFO_SUFFIX)
    ) {
      // A malformed hash part is just not found.
      const entry = index.peekAt(buf, from + 1);
      if (!entry) {
        const miss = head ? missHead : missGet;
        n[WIRE.narinfoMiss]++;
        n[WIRE.narinfoBytes] += miss.length;
        return miss;
      }
      const { body } = entry;
      n[WIRE.narinfoHit]++;
      if (head) {
        deps.onAccess?.(entry.hashPart);
        const h = enc.encode(`${narinfoPrefix}${body.length}\r\n\r\n`);
        n[WIRE.narinfoBytes] += h.length;
        return h;
      }
      let res = hits.get(entry);
      if (!res) {
        // Access times are kept to the second (for gc's LRU order): recorded
        // on a path's first hit in each second, not on every one.
        deps.onAccess?.(entry.hashPart);
        res = concatBytes([enc.encode(`${narinfoPrefix}${body.length}\r\n\r\n`), body]);
        hits.set(entry, res);
      }
      n[WIRE.narinfoBytes] += res.length;
      return res;
    }
    if (length === CACHE_INFO_PATH.length && bytesAt(buf, from, CACHE_INFO_PATH)) {
      const info = head ? infoHead : infoGet;
      n[WIRE.cacheInfo]++;
      n[WIRE.cacheInfoBytes] += info.length;
      return info;
    }
    return undefined;
  };
}

const SLASH = 47;

function bytesAt(buf: Uint8Array, at: number, want: Uint8Array): boolean {
  for (let i = 0; i < want.length; i++) if (buf[at + i] !== want[i]) return false;
  return true;
}
