/**
 * The worker's side of `NarTable` (nar_table.ts): the NAR files the main
 * thread shared, and open descriptors for their packs, so that a request
 * for one is answered here with its head and sendfile ranges, the way the
 * app answers it (same fields, same order), without crossing threads.
 * Descriptors stay open between requests (nginx's open_file_cache does the
 * same), each pack's length is checked on every request (a pack cut short
 * since the app's checks must not end a 200 early), and an idle
 * descriptor is closed after a while.
 */
import { formatResponseHead, type RequestHead } from "../../http1/mod.ts";
import { type Libc, O_CLOEXEC, O_RDONLY, SEEK_END } from "../../io/libc.ts";
import { parseRange } from "../http_range.ts";
import type { SharedNar } from "../nar_table.ts";
import type { FileRange } from "./protocol.ts";

/** Descriptors kept open at most; beyond that the least recently used idle ones close. */
const MAX_FDS = 256;
/** A descriptor nobody used for this long is closed. */
const IDLE_MS = 30_000;

const IMMUTABLE = "public, max-age=31536000, immutable";
const enc = new TextEncoder();

interface Open {
  fd: number;
  /** Responses sending from it right now. */
  users: number;
  usedAt: number;
  /** Out of the cache while in use: closed by its last user. */
  evicted: boolean;
}

interface Entry {
  nar: SharedNar;
  /** How long each pack must be for the whole file: checked per request. */
  ends: Map<string, number>;
  etag: string;
}

/** What to send for one request the worker answers itself. */
export interface NarAnswer {
  status: number;
  head: Uint8Array;
  /** Ranges of open descriptors (empty for a HEAD). */
  ranges: FileRange[];
  /** Bytes of the response (head and body), for the main thread's counts. */
  bytes: number;
  /** Bytes of the body (0 for a HEAD). */
  body: number;
  /** Call once the ranges are written or dropped. */
  done(): void;
}

export class NarSender {
  #nars = new Map<string, Entry>();
  #fds = new Map<string, Open>();

  constructor(private c: Libc) {}

  apply(put: SharedNar[], del: string[]): void {
    for (const name of del) this.#nars.delete(name);
    for (const nar of put) {
      const ends = new Map<string, number>();
      for (const [path, off, len] of nar.parts) {
        ends.set(path, Math.max(ends.get(path) ?? 0, off + len));
      }
      const fh = nar.name.slice(0, nar.name.indexOf("."));
      this.#nars.set(nar.name, { nar, ends, etag: `"${fh}"` });
    }
  }

  /**
   * The response to `head` (a GET or HEAD whose path is `/nar/…`), or
   * undefined when the app must answer it. `keep`: the connection stays.
   */
  answer(head: RequestHead, now: number, date: string, keep: boolean): NarAnswer | undefined {
    const e = this.#nars.get(head.path.slice(5));
    if (!e) return undefined;
    if (now > e.nar.until) {
      this.#nars.delete(e.nar.name);
      return undefined;
    }
    let range: string | null = null;
    for (const [k, v] of head.headers) {
      // A conditional request is the app's (304s); several Range fields read as one, as it reads them.
      if (k === "if-none-match") return undefined;
      if (k === "range") range = range === null ? v : `${range}, ${v}`;
    }
    const size = e.nar.size;
    const r = parseRange(range, size);
    if (r.kind === "unsatisfiable") return undefined;
    const [start, end] = r.kind === "partial" ? [r.start, r.end] : [0, size];
    const used = new Map<string, Open>();
    const release = () => {
      for (const o of used.values()) {
        if (--o.users === 0 && o.evicted) this.c.sym.close(o.fd);
      }
      used.clear();
    };
    // Every pack must be there and long enough, or the app decides (it may find damage).
    for (const [path, need] of e.ends) {
      const o = this.#open(path, now);
      if (!o) return release(), undefined;
      o.users++;
      used.set(path, o);
      if (Number(this.c.sym.lseek(o.fd, 0n, SEEK_END)) < need) {
        release();
        this.#close(path);
        this.#nars.delete(e.nar.name);
        return undefined;
      }
    }
    const ranges: FileRange[] = [];
    if (head.method !== "HEAD") {
      let at = 0;
      for (const [path, off, len] of e.nar.parts) {
        const from = Math.max(start, at);
        const to = Math.min(end, at + len);
        if (from < to) ranges.push([used.get(path)!.fd, off + from - at, to - from]);
        at += len;
        if (at >= end) break;
      }
    }
    const status = r.kind === "partial" ? 206 : 200;
    const fields: [string, string][] = [
      ["content-type", e.nar.contentType],
      ["accept-ranges", "bytes"],
      ["etag", e.etag],
      ["cache-control", IMMUTABLE],
    ];
    if (status === 206) fields.push(["content-range", `bytes ${start}-${end - 1}/${size}`]);
    fields.push(["date", date]);
    if (!keep) fields.push(["connection", "close"]);
    else if (head.minor === 0) fields.push(["connection", "keep-alive"]);
    fields.push(["content-length", String(end - start)]);
    const bytes = enc.encode(formatResponseHead(status, fields));
    return {
      status,
      head: bytes,
      ranges,
      bytes: bytes.length + (head.method === "HEAD" ? 0 : end - start),
      body: head.method === "HEAD" ? 0 : end - start,
      done: release,
    };
  }

  /** Closes descriptors idle for a while and forgets expired NARs (once a second). */
  sweep(now: number): void {
    for (const [path, o] of this.#fds) {
      if (o.users === 0 && now - o.usedAt > IDLE_MS) this.#close(path);
    }
    for (const [name, e] of this.#nars) if (now > e.nar.until) this.#nars.delete(name);
  }

  /** Closes every idle descriptor (the worker stops). */
  close(): void {
    for (const [path, o] of this.#fds) if (o.users === 0) this.#close(path);
  }

  #open(path: string, now: number): Open | undefined {
    let o = this.#fds.get(path);
    if (o) {
      // Most recently used last: the Map's order is the eviction order.
      this.#fds.delete(path);
    } else {
      const fd = this.c.sym.open(enc.encode(`${path}\0`), O_RDONLY | O_CLOEXEC, 0);
      if (fd < 0) return undefined;
      o = { fd, users: 0, usedAt: now, evicted: false };
      if (this.#fds.size >= MAX_FDS) {
        for (const [p, old] of this.#fds) {
          if (old.users === 0) {
            this.#close(p);
            break;
          }
        }
      }
    }
    o.usedAt = now;
    this.#fds.set(path, o);
    return o;
  }

  #close(path: string): void {
    const o = this.#fds.get(path);
    if (!o) return;
    this.#fds.delete(path);
    // Still sending from it: closed when that response is done.
    if (o.users === 0) this.c.sym.close(o.fd);
    else o.evicted = true;
  }
}
