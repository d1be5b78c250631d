/**
 * One client connection of the epoll front, driven by readiness events on
 * the worker's thread. It reads request heads and answers quick ones
 * (narinfo, nix-cache-info) at once; any other request goes to the main
 * thread, which sends back the response as bytes or file ranges to write.
 * The HTTP rules are the portable server's: the same head reading
 * (`readHead`), the same limits and timeouts, and the same response
 * framing, which the main thread does (`serveRequest`).
 *
 * Edge-triggered, as nginx is: the socket is registered once for reading and
 * writing, and the connection remembers whether it may have bytes to read
 * (an edge came, and no read since came back short) and whether a write
 * found the socket full. A level-triggered descriptor is polled again by
 * every epoll_wait after it was reported (measured: ~5% of the worker's
 * time on narinfo misses), and interest changes cost epoll_ctl calls.
 *
 * Backpressure: while a write is pending, no further request is read; the
 * main thread asks to be told (`ack`) when its messages are written, and
 * sends only a few ahead. A request body is read only when the app pulls.
 */
import { concatBytes, freeBuffer } from "../../encoding/mod.ts";
import {
  ChunkedDecoder,
  findHeadEnd,
  HeadParser,
  HttpError,
  makeRoom,
  type RequestHead,
} from "../../http1/mod.ts";
import {
  EAGAIN,
  EINTR,
  EPOLLERR,
  EPOLLET,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EPOLLRDHUP,
  type Libc,
  MSG_MORE,
  MSG_NOSIGNAL,
} from "../../io/libc.ts";
import type { HttpLimits } from "../server_options.ts";
import { type QuickAnswer, readHead } from "../read_head.ts";
import { errorResponse } from "../respond.ts";
import { WIRE } from "../wire_counters.ts";
import type { FileRange, FromWorker } from "./protocol.ts";
import type { Reactor } from "./reactor.ts";
import type { NarAnswer, NarSender } from "./nar_sender.ts";

export interface ConnHost {
  readonly c: Libc;
  readonly reactor: Reactor;
  readonly limits: HttpLimits;
  readonly clock: { now: number; date: string };
  readonly quick: QuickAnswer | undefined;
  /** NAR files the main thread shared: answered here (nar_sender.ts). */
  readonly nars: NarSender | undefined;
  /** A NAR request answered here, for the main thread's counts and audit. */
  served(method: string, name: string, status: number, bytes: number, body: number): void;
  /** The wire counters (wire_counters.ts); this thread is their only writer. */
  readonly counters: Uint32Array;
  readonly stopping: boolean;
  /** Hands a request to the main thread; returns its id. */
  begin(conn: WireConnection, head: RequestHead): number;
  /** The request is over (answered, or its connection ended). */
  end(id: number): void;
  /**
   * Queues a message for the main thread (sent at the end of this round of
   * events). `later`: it may wait for the next urgent one or the next tick,
   * so a finished download does not wake the main thread on its own.
   */
  post(msg: FromWorker, transfer?: ArrayBuffer, later?: boolean): void;
  /** The connection is closed and removed from the reactor. */
  closed(conn: WireConnection): void;
}

const INITIAL_BUFFER = 8192;
/**
 * How much of a file one sendfile call may send. Small on purpose: one call
 * for a whole 600 MB NAR file (the client reading as fast) cost 0.38 CPU s
 * per GB and gave 2.5 GB/s on loopback; 128 KiB calls, 0.22 s and 4.2 GB/s
 * (nginx's own limit, sendfile_max_chunk, is 2 MiB).
 */
const SENDFILE_MAX = 128 * 1024;
const enc = new TextEncoder();
const CONTINUE = enc.encode("HTTP/1.1 100 Continue\r\n\r\n");

/** Something to write: bytes, or a range of an open file. */
class Pending {
  /** bytes[off, end) or file fd's [pos, end). */
  bytes: Uint8Array | undefined;
  fd = -1;
  pos = 0;
  end = 0;
  /** The request to tell once this is written (-1: none). */
  ack = -1;
  /** The last part of a `files` message. */
  lastFile = false;
  /** Descriptors to close once this is written or dropped. */
  closeFds: number[] | undefined;
  /** Called once this is written or dropped (a NAR answered here gives its descriptors back). */
  onDone: (() => void) | undefined;
  /** The shared NAR this range is of (a short file is reported by name). */
  nar: string | undefined;
  /** File bytes follow: the kernel may hold these to fill packets with them (MSG_MORE). */
  more = false;
  /**
   * `bytes` came from the main thread (transferred, this worker's alone):
   * freed once written, not at this isolate's next GC (a streamed NAR's
   * pieces otherwise piled up to tens of MiB of RSS).
   */
  owned = false;
}

/** The request being served on this connection. */
class Current {
  /** The app may read a body (a PUT or POST with one). */
  readsBody: boolean;
  /** The body was read to its end (or there was none). */
  bodyDone: boolean;
  bodyLeft: number;
  decoder: ChunkedDecoder | undefined;
  pulling = false;
  sendContinue: boolean;
  /** The main thread said the response is complete. */
  ended = false;
  keep = false;

  constructor(readonly id: number, head: RequestHead) {
    const hasBody = head.chunked || head.contentLength > 0;
    this.readsBody = hasBody && head.method !== "GET" && head.method !== "HEAD";
    this.bodyDone = !hasBody;
    this.bodyLeft = head.contentLength;
    this.decoder = head.chunked ? new ChunkedDecoder() : undefined;
    this.sendContinue = this.readsBody && head.expectContinue;
  }
}

/** What a connection's socket is registered for, once, at accept. */
export const CONNECTION_EVENTS = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

export class WireConnection {
  #buf = new Uint8Array(INITIAL_BUFFER);
  /** Unread bytes are `#buf[#start, #end)`. */
  #start = 0;
  #end = 0;
  /** Bytes of the unfinished head already searched for its end. */
  #scanned = 0;
  #heads = new HeadParser();
  #req: Current | undefined;
  #queue: Pending[] = [];
  /** An edge said there are bytes to read, and no read since came back short. */
  #readable = false;
  /** The peer sent its FIN: read until recv says 0, not just until a short read. */
  #rdhup = false;
  /** A write found the socket full: the next EPOLLOUT edge resumes it. */
  #blocked = false;
  /** When the read being waited for (a head, a body) gives up. */
  #deadline = Infinity;
  /** When the pending write gives up (a client that stopped reading). */
  #writeDeadline = Infinity;
  #idle = true;
  #stopping = false;
  #peerClosed = false;
  #closed = false;
  /** Inside `#pump`: writes it makes must not re-enter it. */
  #pumping = false;
  #offset = new BigInt64Array(1);

  constructor(readonly fd: number, private host: ConnHost) {
    // A client that connects and says nothing is idle from the start.
    this.#deadline = host.clock.now + host.limits.idleTimeoutMs;
  }

  onEvents(mask: number): void {
    try {
      this.#onEvents(mask);
    } catch (e) {
      // A bug must cost this connection, not the server.
      console.error(`arca: connection failed: ${(e as Error).stack ?? e}`);
      this.abort();
    }
  }

  #onEvents(mask: number): void {
    if (this.#closed) return;
    // Reset, or shut down both ways: nothing can be sent any more. (A peer's
    // FIN alone is EPOLLRDHUP, and a read of 0.)
    if (mask & (EPOLLERR | EPOLLHUP)) return this.abort();
    if (mask & EPOLLRDHUP) this.#rdhup = true;
    if (mask & (EPOLLIN | EPOLLRDHUP)) this.#readable = true;
    if (mask & EPOLLOUT) this.#blocked = false;
    if ((mask & EPOLLOUT) && this.#queue.length) this.#flush();
    this.#pump();
  }

  checkDeadline(now: number): void {
    if (now > this.#deadline || now > this.#writeDeadline) this.abort();
  }

  /** Finish the current response, then close; a connection between requests closes now. */
  stop(): void {
    this.#stopping = true;
    if (!this.#req && this.#queue.length === 0) this.abort();
  }

  /** Closes at once: pending writes are dropped, a running request is told it is gone. */
  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#queue) this.#closeFds(p);
    this.#queue = [];
    const r = this.#req;
    this.#req = undefined;
    if (r) {
      this.host.post({ t: "gone", id: r.id });
      this.host.end(r.id);
    }
    this.host.reactor.remove(this.fd);
    this.host.c.sym.close(this.fd);
    this.host.closed(this);
  }

  // --- messages from the main thread about the current request ---

  out(id: number, data: ArrayBuffer, ack: boolean): void {
    if (this.#req?.id !== id) return;
    const p = new Pending();
    p.bytes = new Uint8Array(data);
    p.owned = true;
    p.end = data.byteLength;
    if (ack) p.ack = id;
    this.#push(p);
  }

  /**
   * Sends file ranges and then closes `fds`; false when the request is not
   * this connection's (the caller closes them).
   */
  files(id: number, fds: number[], ranges: FileRange[]): boolean {
    if (this.#req?.id !== id) return false;
    for (let i = 0; i < ranges.length; i++) {
      const p = new Pending();
      [p.fd, p.pos, p.end] = ranges[i];
      p.end += p.pos;
      this.#queue.push(p);
    }
    // A last, empty item carries the fds and the answer.
    const last = new Pending();
    last.ack = id;
    last.lastFile = true;
    last.closeFds = fds;
    this.#queue.push(last);
    this.#flushOrWait();
    return true;
  }

  endResponse(id: number, keep: boolean): void {
    const r = this.#req;
    if (r?.id !== id) return;
    r.ended = true;
    r.keep = keep;
    if (this.#queue.length === 0) this.#finish();
  }

  pull(id: number): void {
    const r = this.#req;
    if (r?.id !== id || !r.readsBody || r.bodyDone) return;
    if (r.sendContinue) {
      r.sendContinue = false;
      this.#write(CONTINUE);
      if (this.#closed) return;
    }
    r.pulling = true;
    this.#pump();
  }

  // --- reading ---

  /**
   * Reads into the buffer after `#end`; false when there is nothing to read
   * now (wait for the next edge) or the peer left (`#peerClosed`).
   */
  #fill(): boolean {
    if (!this.#readable) return false;
    if (this.#end === this.#buf.length) {
      // The head limit bounds the growth (a body is read into an emptied buffer).
      this.#buf = makeRoom(this.#buf, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const c = this.host.c;
    for (;;) {
      // Usually the buffer is empty and read whole: no view to allocate.
      const into = this.#end ? this.#buf.subarray(this.#end) : this.#buf;
      const n = c.sym.recv(this.fd, into, into.length, 0);
      if (n > 0) {
        this.#end += n;
        // A short read emptied the socket: the next bytes bring a new edge.
        // (After a FIN there is no edge left to wait for: read on to the 0.)
        if (n < into.length && !this.#rdhup) this.#readable = false;
        return true;
      }
      this.#readable = false;
      if (n === 0) {
        this.#peerClosed = true;
        return false;
      }
      const e = c.errno();
      if (e === EINTR) {
        this.#readable = true;
        continue;
      }
      if (e !== EAGAIN) this.#peerClosed = true;
      return false;
    }
  }

  /**
   * Moves the connection on as far as it can go now: answers or dispatches
   * the heads in the buffer and reads more while nothing is pending, or
   * feeds the body the app pulls.
   */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#closed && this.#queue.length === 0) {
        const r = this.#req;
        if (r) {
          if (r.pulling) this.#readBody();
          return;
        }
        this.#parseHeads();
        if (this.#closed || this.#req || this.#queue.length) return;
        if (!this.#fill()) {
          // A peer closing between requests is normal; mid-head it is not worth an answer.
          if (this.#peerClosed) this.abort();
          return;
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  #parseHeads(): void {
    const buf = this.#buf;
    while (!this.#req && !this.#closed && this.#queue.length === 0) {
      // Stopping: the response in progress is done; requests not begun are not.
      if (this.#stopping || this.host.stopping) return this.abort();
      // Empty lines before a request line are ignored (RFC 9112 section 2.2).
      while (
        this.#end - this.#start >= 2 && buf[this.#start] === 13 && buf[this.#start + 1] === 10
      ) {
        this.#start += 2;
      }
      const idle = this.#start === this.#end;
      if (idle !== this.#idle || this.#deadline === Infinity) {
        this.#idle = idle;
        const limits = this.host.limits;
        this.#deadline = this.host.clock.now +
          (idle ? limits.idleTimeoutMs : limits.headTimeoutMs);
      }
      if (idle) {
        this.#start = this.#end = 0;
        return;
      }
      const end = findHeadEnd(buf, this.#start + Math.max(0, this.#scanned - 3), this.#end);
      if (end < 0) {
        this.#scanned = this.#end - this.#start;
        if (this.#scanned >= this.host.limits.maxHeadBytes) {
          this.#fail(new HttpError(431, "request head too large"));
        }
        return;
      }
      let head: RequestHead | Uint8Array;
      try {
        head = readHead(this.#heads, this.host.quick, buf, this.#start, end, this.host.clock.date);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        return this.#fail(e);
      }
      this.#start = end;
      if (this.#start === this.#end) this.#start = this.#end = 0;
      this.#scanned = 0;
      this.#idle = false;
      this.#deadline = Infinity;
      if (head instanceof Uint8Array) this.#write(head);
      else this.#dispatch(head);
    }
  }

  #dispatch(head: RequestHead): void {
    // Waiting for the app has no deadline of its own (as in the portable server).
    this.#deadline = Infinity;
    const nars = this.host.nars;
    if (
      nars && (head.method === "GET" || head.method === "HEAD") &&
      head.path.startsWith("/nar/") && head.contentLength <= 0 && !head.chunked
    ) {
      const keep = head.keepAlive && !this.#stopping && !this.host.stopping;
      const a = nars.answer(head, this.host.clock.now, this.host.clock.date, keep);
      if (a) return this.#sendNar(head, a, keep);
    }
    this.#req = new Current(this.host.begin(this, head), head);
  }

  /** Sends a shared NAR (nar_sender.ts) with no message to the main thread. */
  #sendNar(head: RequestHead, a: NarAnswer, keep: boolean): void {
    const name = head.path.slice(5);
    this.host.served(head.method, name, a.status, a.bytes, a.body);
    const h = new Pending();
    h.bytes = a.head;
    h.end = a.head.length;
    h.more = a.ranges.length > 0;
    this.#queue.push(h);
    for (const [fd, pos, len] of a.ranges) {
      const p = new Pending();
      p.fd = fd;
      p.pos = pos;
      p.end = pos + len;
      p.nar = name;
      this.#queue.push(p);
    }
    const last = new Pending();
    last.onDone = a.done;
    this.#queue.push(last);
    // Closed once written: the next head is not read.
    if (!keep) this.#stopping = true;
    this.#flushOrWait();
  }

  /** Gives the app the next piece of the body, from the buffer or the socket. */
  #readBody(): void {
    const r = this.#req!;
    while (r.pulling && !this.#closed) {
      if (this.#start < this.#end) {
        if (!r.decoder) {
          const n = Math.min(r.bodyLeft, this.#end - this.#start);
          const data = this.#buf.slice(this.#start, this.#start + n);
          this.#start += n;
          r.bodyLeft -= n;
          this.#deliver(r, data, r.bodyLeft === 0);
          continue;
        }
        let push;
        try {
          push = r.decoder.push(this.#buf, this.#start, this.#end);
        } catch (e) {
          r.pulling = false;
          const status = e instanceof HttpError ? e.status : 0;
          this.host.post({ t: "bodyError", id: r.id, status, message: (e as Error).message });
          return;
        }
        this.#start += push.consumed;
        // Copied: the parts are views of the connection buffer, which the next read reuses.
        if (push.data.length || push.done) {
          const data = push.data.length === 1 ? push.data[0].slice() : concatBytes(push.data);
          this.#deliver(r, data, push.done);
        }
        continue;
      }
      this.#start = this.#end = 0;
      this.#deadline = this.host.clock.now + this.host.limits.ioTimeoutMs;
      if (this.#fill()) continue;
      if (this.#peerClosed) {
        r.pulling = false;
        this.#deadline = Infinity;
        this.host.post({
          t: "bodyError",
          id: r.id,
          status: 0,
          message: "the client closed the connection before the body ended",
        });
      }
      return;
    }
  }

  #deliver(r: Current, data: Uint8Array, done: boolean): void {
    r.pulling = false;
    this.#deadline = Infinity;
    if (done) r.bodyDone = true;
    // `data` is a fresh copy, whole: its buffer can be handed over.
    const buf = data.buffer as ArrayBuffer;
    this.host.post({ t: "body", id: r.id, data: buf, done }, buf);
  }

  // --- writing ---

  /** Writes bytes the main thread did not send (quick answers, 100 Continue, errors). */
  #write(bytes: Uint8Array): void {
    const p = new Pending();
    p.bytes = bytes;
    p.end = bytes.length;
    this.#push(p);
  }

  #push(p: Pending): void {
    this.#queue.push(p);
    this.#flushOrWait();
  }

  #flushOrWait(): void {
    // Only the first item can be tried now: behind others, EPOLLOUT brings it.
    if (this.#queue.length === 1 || !this.#blocked) this.#flush();
  }

  /** Writes queued items until the socket is full; finishes the request when all are out. */
  #flush(): void {
    const c = this.host.c;
    const q = this.#queue;
    while (q.length && !this.#closed) {
      const p = q[0];
      while (p.pos < p.end) {
        let n: number;
        if (p.bytes) {
          const b = p.bytes;
          const flags = p.more ? MSG_NOSIGNAL | MSG_MORE : MSG_NOSIGNAL;
          n = c.sym.send(this.fd, p.pos ? b.subarray(p.pos) : b, p.end - p.pos, flags);
        } else {
          this.#offset[0] = BigInt(p.pos);
          n = c.sym.sendfile(
            this.fd,
            p.fd,
            new Uint8Array(this.#offset.buffer),
            Math.min(p.end - p.pos, SENDFILE_MAX),
          );
          if (n === 0) {
            // The file is shorter than the range the app promised: damage. Cut the transfer.
            const id = this.#req?.id ?? -1;
            const message = `a file ends at ${p.pos}, wanted ${p.end}`;
            if (p.nar !== undefined) this.host.post({ t: "narShort", name: p.nar, message });
            else if (id >= 0) this.host.post({ t: "short", id, message });
            return this.abort();
          }
        }
        if (n > 0) {
          p.pos += n;
          continue;
        }
        const e = c.errno();
        if (e === EINTR) continue;
        if (e === EAGAIN) {
          this.#blocked = true;
          if (this.#writeDeadline === Infinity) {
            this.#writeDeadline = this.host.clock.now + this.host.limits.ioTimeoutMs;
          }
          return;
        }
        return this.abort();
      }
      q.shift();
      if (p.owned) freeBuffer(p.bytes!);
      this.#closeFds(p);
      if (p.ack >= 0) {
        this.host.post({ t: "written", id: p.ack, files: p.lastFile }, undefined, p.lastFile);
      }
      // Progress: the deadline is for a write that makes none.
      this.#writeDeadline = Infinity;
    }
    if (this.#closed) return;
    if (this.#req?.ended) this.#finish();
    else this.#pump();
  }

  #closeFds(p: Pending): void {
    if (p.onDone) {
      p.onDone();
      p.onDone = undefined;
    }
    if (!p.closeFds) return;
    for (const fd of p.closeFds) this.host.c.sym.close(fd);
    p.closeFds = undefined;
  }

  /** The response is out: next request, or close. */
  #finish(): void {
    const r = this.#req!;
    this.#req = undefined;
    this.host.end(r.id);
    if (!r.keep || !r.bodyDone || this.#peerClosed || this.#stopping || this.host.stopping) {
      return this.abort();
    }
    this.#pump();
  }

  /** Answers a request that cannot be served, then closes. */
  #fail(e: HttpError): void {
    this.host.counters[WIRE.badHeads]++;
    this.#stopping = true;
    this.#write(errorResponse(e, this.host.clock.date));
    if (!this.#closed && this.#queue.length === 0) this.abort();
  }
}
