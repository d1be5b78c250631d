/**
 * What `serveHttp` takes and gives, whichever driver serves the sockets
 * (the portable one on Deno's sockets, or the epoll front).
 */
import type { AppHandler } from "./app.ts";
import type { FollowableIndex } from "./index_entry.ts";
import type { NarTable } from "./nar_table.ts";

/** Narinfo hits and misses and /nix-cache-info, answered without the app (quick_route.ts). */
export interface QuickSource {
  index: FollowableIndex;
  cacheInfo: Uint8Array;
  /** Called on a path's first hit in each second (gc's access times); must be cheap. */
  onAccess?: (hashPart: string) => void;
  /** NAR files the app shared: the epoll front's worker answers them itself. */
  nars?: NarTable;
}

/**
 * A `[[caches]]` entry served under `/<name>/` whose narinfo hits and
 * `/<name>/nix-cache-info` are answered like `HttpApp.quick`'s, from its own
 * index, counted in its own wire counters (their narinfo and nix-cache-info
 * slots; connection-level slots stay in `HttpApp.counters`).
 */
export interface QuickMount extends QuickSource {
  name: string;
  counters: Uint32Array<SharedArrayBuffer>;
}

/** Called after each response the app gave: its status and the bytes handed to the socket. */
export type ResponseObserver = (
  method: string,
  path: string,
  status: number,
  bytes: number,
) => void;

export interface HttpApp {
  /** Answers from memory for plain GETs and HEADs; without it everything goes to `handle`. */
  quick?: QuickSource;
  /** Mounted caches answered the same way (`quick_mounts.ts`); the app sees their other requests. */
  quickMounts?: QuickMount[];
  handle: AppHandler;
  /**
   * Counters of the answers the driver gives without the app (wire_counters.ts),
   * in shared memory (`newWireCounters`) so the epoll front's thread can write them.
   */
  counters?: Uint32Array<SharedArrayBuffer>;
  /** Sees every response of `handle`, when it is complete (or cut). Must be cheap, never throw. */
  observe?: ResponseObserver;
}

export interface HttpLimits {
  /** Request line plus header fields; larger heads get 431. */
  maxHeadBytes: number;
  /** Connections beyond this get 503 and are closed. */
  maxConnections: number;
  /** From the first byte of a request head to its end. */
  headTimeoutMs: number;
  /** Keep-alive: how long an idle connection waits for its next request. */
  idleTimeoutMs: number;
  /** A read or write of a body that makes no progress for this long ends the connection. */
  ioTimeoutMs: number;
  /** After shutdown, how long running responses may take before they are cut. */
  shutdownGraceMs: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxHeadBytes: 32 * 1024,
  maxConnections: 4096,
  headTimeoutMs: 30_000,
  idleTimeoutMs: 75_000,
  ioTimeoutMs: 120_000,
  shutdownGraceMs: 30_000,
};

/**
 * Which driver moves the bytes: "epoll" (Linux, needs the FFI permission),
 * "portable" (Deno's sockets, everywhere), or "auto" (epoll where it can run).
 */
export type { HttpIo } from "../config/mod.ts";
import type { HttpIo } from "../config/mod.ts";

export interface HttpServerOptions {
  hostname: string;
  port: number;
  io?: HttpIo;
  /** Aborting it stops the server gracefully (like `shutdown()`). */
  signal?: AbortSignal;
  onListen?: (addr: { hostname: string; port: number }) => void;
  limits?: Partial<HttpLimits>;
}

export interface HttpServer {
  readonly addr: { hostname: string; port: number };
  /** Which driver serves (what "auto" chose). */
  readonly io: "epoll" | "portable";
  /** Resolves when the listener is closed and every connection has ended. */
  readonly finished: Promise<void>;
  /** Resolves once connections are being accepted (the epoll front's thread has started). */
  readonly ready: Promise<void>;
  /** Stops accepting; open connections finish their current response, then close. */
  shutdown(): Promise<void>;
}

/** The Date field's text, made once a second rather than per response. */
export interface Clock {
  now: number;
  date: string;
}
