/**
 * What the epoll front's worker (sockets, HTTP framing, quick answers) and
 * the main thread (the app) say to each other. The worker posts to the main
 * thread as usual; the main thread posts on a MessagePort that the worker
 * drains synchronously (`receiveMessageOnPort`) when its eventfd is written,
 * because the worker never returns to its own event loop.
 *
 * Requests are numbered by the worker; every message about one carries its
 * `id`. Bytes are transferred, not copied, where the sender no longer needs
 * them.
 */
import type { RequestHead } from "../../http1/mod.ts";
import type { HttpLimits } from "../server_options.ts";
import type { SharedNar } from "../nar_table.ts";

/** The first message, to the worker itself (not on the port). */
export interface WorkerInit {
  t: "init";
  port: MessagePort;
  /** The listening socket, made on the main thread so errors surface there. */
  listenFd: number;
  /** An eventfd the main thread writes after posting on `port` (once per batch of posts). */
  wakeFd: number;
  limits: HttpLimits;
  /** Whether quick answers (narinfo, nix-cache-info) are the worker's to give. */
  quick: boolean;
  /** Whether shared NAR files are (`nars` messages follow). */
  nars: boolean;
  cacheInfo: Uint8Array;
  /** The wire counters' memory (wire_counters.ts): the worker is their only writer. */
  counters?: SharedArrayBuffer;
  /**
   * Caches under `/<name>/` answered quickly too (`HttpApp.quickMounts`), in
   * that order: `index` and `access` messages name one by its place here.
   */
  mounts?: { name: string; cacheInfo: Uint8Array; counters: SharedArrayBuffer }[];
}

/**
 * Main thread to worker: an array of these per post (one per turn of the
 * main thread's event loop). Bytes travel as ArrayBuffers, never as typed
 * arrays: the port's receiving side walks every own key of what it gets,
 * and a typed array has one per byte.
 */
export type ToWorker =
  /** Narinfo changes; `live` false: answer nothing from the index. `mount`: of that mount's index. */
  | { t: "index"; live: boolean; put: SharedEntry[]; del: string[]; mount?: number }
  /** NAR files the worker may answer by itself (nar_table.ts), and ones it must not any more. */
  | { t: "nars"; put: SharedNar[]; del: string[] }
  /**
   * Response bytes, in order. With `ack`, the worker answers `written` once
   * they are out: the main thread waits for that before it sends more.
   */
  | { t: "out"; id: number; data: ArrayBuffer; ack: boolean }
  /** Parts of open files, in order; the worker closes every fd when done, and answers `written`. */
  | { t: "files"; id: number; fds: number[]; ranges: FileRange[] }
  /** The response is complete; `keep`: the connection may carry another request. */
  | { t: "end"; id: number; keep: boolean }
  /** The app wants the next piece of the request body. */
  | { t: "pull"; id: number }
  /** Stop accepting; finish running responses; close idle connections. */
  | { t: "stop" }
  /** Close everything now. */
  | { t: "abort" };

/** `[hashPart, buffer, offset, length]`: an index entry's bytes in shared memory. */
export type SharedEntry = [string, SharedArrayBuffer, number, number];

/** `[fd, offset, length]`: bytes of a file to send as they are (sendfile). */
export type FileRange = [number, number, number];

/** Worker to main thread: an array of these per post (one per round of events). */
export type FromWorker =
  | { t: "ready" }
  | { t: "req"; id: number; head: RequestHead }
  /** A piece of the request body (after a pull); `done` at its end. */
  | { t: "body"; id: number; data: ArrayBuffer; done: boolean }
  /** The body cannot be read to its end; `status` is an HttpError's, or 0. */
  | { t: "bodyError"; id: number; status: number; message: string }
  /** An `out` with `ack`, or a `files`, was written. */
  | { t: "written"; id: number; files: boolean }
  /** The connection ended while this request was being answered (or its last writes were). */
  | { t: "gone"; id: number }
  /** A file ended before its range did (damage): the response was cut. */
  | { t: "short"; id: number; message: string }
  /** Narinfo hits answered by the worker (gc's access times), batched per second; `mount` as above. */
  | { t: "access"; hashParts: string[]; mount?: number }
  /** NAR requests the worker answered, per second: `[method, name, status, bytes, body bytes]` each. */
  | { t: "narServed"; list: (string | number)[] }
  /** A shared NAR's file ended before its range did (damage): the response was cut. */
  | { t: "narShort"; name: string; message: string }
  /** Every connection has ended after `stop` or `abort`. */
  | { t: "stopped" }
  /** The worker hit a bug and stopped serving. */
  | { t: "failed"; message: string };
