/**
 * One client connection of the HTTP/1.1 server: reads request heads,
 * answers `quick` requests straight from bytes in memory, builds a standard
 * `Request` for the rest, and writes the `Response` back — with
 * Content-Length when it is known, chunked otherwise. Requests on one
 * connection are answered in order (pipelining works, one at a time).
 *
 * A connection closes on anything that leaves the byte stream ambiguous: a
 * malformed head (answered 400 first), a request body the app did not read
 * to its end, a response body that ends before its Content-Length (so the
 * client sees a short transfer, never a short 200 that looks complete).
 */
import { concatBytes } from "../encoding/mod.ts";
import { ChunkedDecoder, findHeadEnd, formatResponseHead, HttpError } from "../http1/mod.ts";
import { HeadParser, type RequestHead } from "../http1/mod.ts";
import { type AppHandler, type AppResponse, HeadRequest } from "./app.ts";

export interface HttpApp {
  /**
   * A whole response (status line, fields, body) for a GET (or a HEAD when
   * `head`) of the target `buf[from, to)` that can be answered from memory,
   * or undefined to go through `handle`. The target is given as bytes, the
   * way it arrived (origin form, one byte per character): the hot path makes
   * no string for it. `date` is the current Date field value. Must be fast,
   * must not throw, and must not keep `buf`.
   */
  quick?: (buf: Uint8Array, from: number, to: number, head: boolean, date: string) =>
    | Uint8Array
    | undefined;
  handle: AppHandler;
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

export interface Clock {
  now: number;
  date: string;
}

const INITIAL_BUFFER = 8192;
const BODY_READ = 65536;
/**
 * Response bodies are copied through buffers of this size (reused, see
 * `pool`). Measured on NAR downloads: 1 MiB was faster for one client but
 * ~30% slower with 16 (16 buffers no longer fit the CPU caches).
 */
const COPY_BUFFER = 256 * 1024;
/** Buffers kept for reuse: enough for as many concurrent downloads. */
const POOL_MAX = 32;
/** Small bodies go out in one write with their head. */
const COALESCE = 16384;
const enc = new TextEncoder();
const CONTINUE = enc.encode("HTTP/1.1 100 Continue\r\n\r\n");
const pool: ArrayBuffer[] = [];
const UNSAFE_FIELD = /[\r\n\0]/;

/** Quick answers keep the connection: only for requests without a body that allow that. */
function bodiless(h: RequestHead): boolean {
  return h.keepAlive && h.minor === 1 && h.contentLength <= 0 && !h.chunked;
}
const NOTHING = new Uint8Array(0);

export class HttpConnection {
  #buf = new Uint8Array(INITIAL_BUFFER);
  /** Unread bytes are `#buf[#start, #end)`. */
  #start = 0;
  #end = 0;
  /** When the read being waited for (a head, a body) gives up. */
  #deadline = Infinity;
  /** When the write in progress gives up (a client that stopped reading). */
  #writeDeadline = Infinity;
  #idle = true;
  #stopping = false;
  #closed = false;
  /** Bytes of the current response already written (a 500 is possible only before any). */
  #wrote = 0;
  /** A write started but not awaited (quick answers), which the next write waits for. */
  #pending: Promise<void> | undefined;
  #inFlight = false;
  /** The quick answer `#pending` is writing. */
  #sending: Uint8Array = NOTHING;
  /** Bytes of the unfinished head already searched for its end. */
  #scanned = 0;
  #heads = new HeadParser();

  constructor(
    private conn: Deno.TcpConn,
    private app: HttpApp,
    private limits: HttpLimits,
    private clock: Clock,
    private onGone: (c: HttpConnection) => void,
  ) {}

  checkDeadline(now: number): void {
    if (now > this.#deadline || now > this.#writeDeadline) this.abort();
  }

  /** Finish the current response, then close; an idle connection closes now. */
  stop(): void {
    this.#stopping = true;
    if (this.#idle) this.abort();
  }

  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  async run(): Promise<void> {
    try {
      this.conn.setNoDelay(true);
      // Flat on purpose: this loop runs once per request, and every async
      // call in it would cost a promise and a microtask turn.
      for (;;) {
        const head = this.#nextHead();
        if (head === null) break;
        if (head === undefined) {
          if (this.#stopping && this.#idle) break;
          this.#makeRoom();
          // Usually the buffer is empty and read whole: no view to allocate.
          const n = await this.conn.read(this.#end ? this.#buf.subarray(this.#end) : this.#buf);
          // A peer closing between requests is normal; mid-head it is not worth an answer.
          if (n === null) break;
          this.#end += n;
          continue;
        }
        if (head instanceof Uint8Array) {
          // One write in flight at most: a client that sends without reading waits.
          if (this.#inFlight) await this.#pending;
          this.#send(head);
          continue;
        }
        if (!(await this.#dispatch(head)) || this.#stopping) break;
      }
    } catch (e) {
      if (e instanceof HttpError) {
        await this.#fail(e);
      } else if (!this.#closed && !(e instanceof Deno.errors.ConnectionReset)) {
        // The peer went away or sent garbage mid-body: nothing left to answer.
        console.error(`arca: connection ended: ${(e as Error).message}`);
      }
    } finally {
      await this.#pending;
      this.abort();
      this.onGone(this);
    }
  }

  /**
   * The next request's head if the buffer holds all of it, or the app's
   * quick answer to it; undefined when more bytes are needed; null when the
   * connection should end. Throws HttpError for a head that cannot be served.
   */
  #nextHead(): RequestHead | Uint8Array | undefined | null {
    // Stopping: the response in progress is done; requests not begun are not.
    if (this.#stopping) return null;
    const buf = this.#buf;
    // Empty lines before a request line are ignored (RFC 9112 section 2.2).
    while (this.#end - this.#start >= 2 && buf[this.#start] === 13 && buf[this.#start + 1] === 10) {
      this.#start += 2;
    }
    const idle = this.#start === this.#end;
    if (idle !== this.#idle || this.#deadline === Infinity) {
      this.#idle = idle;
      this.#deadline = this.clock.now +
        (idle ? this.limits.idleTimeoutMs : this.limits.headTimeoutMs);
    }
    if (idle) return undefined;
    const end = findHeadEnd(buf, this.#start + Math.max(0, this.#scanned - 3), this.#end);
    if (end < 0) {
      this.#scanned = this.#end - this.#start;
      if (this.#scanned >= this.limits.maxHeadBytes) {
        throw new HttpError(431, "request head too large");
      }
      return undefined;
    }
    const head = this.#readHead(buf, this.#start, end);
    this.#start = end;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    this.#scanned = 0;
    this.#idle = false;
    this.#deadline = Infinity;
    return head;
  }

  /** The head `buf[start, end)` parsed, or the app's quick answer to it. */
  #readHead(buf: Uint8Array, start: number, end: number): RequestHead | Uint8Array {
    const quick = this.app.quick;
    const heads = this.#heads;
    // The hot path: the fields repeat the previous request's, so no head is built.
    const repeat = quick && heads.scanRepeat(buf, start, end);
    if (repeat && heads.method && bodiless(repeat)) {
      const date = this.clock.date;
      const answer = quick(buf, heads.targetStart, heads.targetEnd, heads.method === "HEAD", date);
      if (answer) return answer;
    }
    const head = heads.parse(buf, start, end);
    if (quick && !repeat && (head.method === "GET" || head.method === "HEAD") && bodiless(head)) {
      // A connection's first request, or changed fields: the target is still
      // in the buffer, one byte per character after the method and a space.
      const at = start + head.method.length + 1;
      const answer = quick(
        buf,
        at,
        at + head.target.length,
        head.method === "HEAD",
        this.clock.date,
      );
      if (answer) return answer;
    }
    return head;
  }

  /** Makes room after `#end` for the next read: compacts, or grows up to the head limit. */
  #makeRoom(): void {
    if (this.#end < this.#buf.length) return;
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
      return;
    }
    const bigger = new Uint8Array(this.#buf.length * 2);
    bigger.set(this.#buf);
    this.#buf = bigger;
  }

  async #dispatch(head: RequestHead): Promise<boolean> {
    const hasBody = head.chunked || head.contentLength > 0;
    const takesBody = head.method !== "GET" && head.method !== "HEAD";
    const body = hasBody && takesBody ? this.#body(head) : undefined;
    // An absolute-form target is the URL itself: it must parse as one.
    if (head.target[0] !== "/" && !URL.canParse(head.target)) {
      await this.#fail(new HttpError(400, `malformed request: invalid URL ${head.target}`));
      return false;
    }
    const req = new HeadRequest(head, body?.stream ?? null);
    let res: AppResponse;
    try {
      res = await this.app.handle(req);
    } catch (e) {
      // Never leak internals; never take the server down.
      console.error(`arca: ${head.method} ${head.path}: request failed: ${(e as Error).message}`);
      res = new Response("internal error\n", {
        status: 500,
        headers: { "content-type": "text/plain", "cache-control": "no-store" },
      });
    }
    // Unread request bytes would be taken for the next request: close instead.
    const keep = head.keepAlive && !this.#stopping && !(hasBody && !body?.done());
    this.#wrote = 0;
    try {
      return await this.#respond(res, head, keep) && keep;
    } catch (e) {
      const msg = (e as Error).message;
      if (this.#wrote > 0) {
        console.error(`arca: ${head.method} ${head.path}: response cut short: ${msg}`);
      } else {
        console.error(`arca: ${head.method} ${head.path}: response failed: ${msg}`);
        await this.#fail(new HttpError(500, "internal error"));
      }
      return false;
    }
  }

  /** A stream over the request body, reading from the connection as the app pulls. */
  #body(head: RequestHead): { stream: ReadableStream<Uint8Array>; done: () => boolean } {
    let done = false;
    let sendContinue = head.expectContinue;
    let left = head.contentLength;
    const decoder = head.chunked ? new ChunkedDecoder() : undefined;
    const readSome = async (into: Uint8Array): Promise<number> => {
      this.#deadline = this.clock.now + this.limits.ioTimeoutMs;
      const n = await this.conn.read(into);
      this.#deadline = Infinity;
      if (n === null) throw new Error("the client closed the connection before the body ended");
      return n;
    };
    const stream = new ReadableStream<Uint8Array>({
      pull: async (ctl) => {
        if (sendContinue) {
          sendContinue = false;
          await this.#write(CONTINUE);
        }
        if (!decoder) {
          let chunk: Uint8Array;
          if (this.#start < this.#end) {
            const n = Math.min(left, this.#end - this.#start);
            chunk = this.#buf.slice(this.#start, this.#start + n);
            this.#start += n;
          } else {
            const into = new Uint8Array(Math.min(left, BODY_READ));
            chunk = into.subarray(0, await readSome(into));
          }
          left -= chunk.length;
          ctl.enqueue(chunk);
          if (left === 0) {
            done = true;
            ctl.close();
          }
          return;
        }
        for (;;) {
          if (this.#start === this.#end) {
            this.#start = this.#end = 0;
            this.#end = await readSome(this.#buf);
          }
          const r = decoder.push(this.#buf, this.#start, this.#end);
          this.#start += r.consumed;
          // Copied: the parts are views of the connection buffer, which the next read reuses.
          if (r.data.length) {
            ctl.enqueue(r.data.length === 1 ? r.data[0].slice() : concatBytes(r.data));
          }
          if (r.done) {
            done = true;
            ctl.close();
            return;
          }
          if (r.data.length) return;
        }
      },
    }, { highWaterMark: 0 }); // read from the socket only when the app asks (Expect: 100-continue)
    return { stream, done: () => done };
  }

  /** Writes the response; false when the connection cannot carry another request. */
  async #respond(res: AppResponse, head: RequestHead, keep: boolean): Promise<boolean> {
    const status = res.status;
    let declared = -1;
    let dated = false;
    const fields: [string, string][] = [];
    const reply = !(res instanceof Response);
    for (const [k, v] of reply ? res.fields : res.headers) {
      // Headers refuses these itself; a Reply's fields are only Arca's, but checked all the same.
      if (reply && UNSAFE_FIELD.test(k + v)) throw new Error(`unsafe response field ${k}`);
      if (k === "content-length") {
        if (/^\d{1,15}$/.test(v)) declared = Number(v);
        continue;
      }
      // Framing and connection fields are this layer's to set.
      if (k === "connection" || k === "keep-alive" || k === "transfer-encoding") continue;
      if (k === "date") dated = true;
      fields.push([k, v]);
    }
    if (!dated) fields.push(["date", this.clock.date]);
    if (!keep) fields.push(["connection", "close"]);
    else if (head.minor === 0) fields.push(["connection", "keep-alive"]);
    const stream = res.body;
    if (stream instanceof Uint8Array) declared = stream.length;
    if (head.method === "HEAD" || status === 204 || status === 304 || status < 200) {
      if (stream instanceof ReadableStream) await stream.cancel().catch(() => {});
      if (declared >= 0 && status !== 204 && status !== 304) {
        fields.push(["content-length", String(declared)]);
      }
      await this.#write(enc.encode(formatResponseHead(status, fields)));
      return true;
    }
    if (!stream) {
      fields.push(["content-length", "0"]);
      await this.#write(enc.encode(formatResponseHead(status, fields)));
      return true;
    }
    if (stream instanceof Uint8Array) {
      fields.push(["content-length", String(declared)]);
      await this.#sendWithHead(enc.encode(formatResponseHead(status, fields)), stream);
      return true;
    }
    const body = new BodyReader(stream);
    try {
      if (declared >= 0) {
        fields.push(["content-length", String(declared)]);
        await this.#sendFixed(body, enc.encode(formatResponseHead(status, fields)), declared);
        return true;
      }
      // No length given: a body that turns out to be one piece gets one anyway.
      const first = await body.read(true);
      const second = first && (await body.read(true));
      if (!first || !second) {
        fields.push(["content-length", String(first?.length ?? 0)]);
        await this.#sendWithHead(enc.encode(formatResponseHead(status, fields)), first);
        return true;
      }
      if (head.minor === 0) {
        // HTTP/1.0 has no chunked coding: the end of the connection ends the body.
        if (keep) fields.pop();
        fields.push(["connection", "close"]);
        await this.#write(enc.encode(formatResponseHead(status, fields)));
        for (let c: Uint8Array | null = first; c; c = c === first ? second : await body.read()) {
          await this.#write(c);
        }
        return false;
      }
      fields.push(["transfer-encoding", "chunked"]);
      await this.#write(enc.encode(formatResponseHead(status, fields)));
      for (let c: Uint8Array | null = first; c; c = c === first ? second : await body.read()) {
        if (c.length) {
          await this.#write(concatBytes([enc.encode(`${c.length.toString(16)}\r\n`), c, CRLF]));
        }
      }
      await this.#write(LAST_CHUNK);
      return true;
    } finally {
      body.release();
    }
  }

  async #sendFixed(body: BodyReader, headBytes: Uint8Array, declared: number): Promise<void> {
    let sent = 0;
    let headSent = false;
    for (;;) {
      const c = await body.read();
      if (!c) break;
      if (sent + c.length > declared) {
        throw new Error(`the body is longer than its Content-Length ${declared}`);
      }
      if (!headSent) {
        await this.#sendWithHead(headBytes, c);
        headSent = true;
      } else await this.#write(c);
      sent += c.length;
    }
    if (!headSent) await this.#write(headBytes);
    if (sent < declared) {
      throw new Error(`the body ended after ${sent} of ${declared} bytes`);
    }
  }

  async #sendWithHead(headBytes: Uint8Array, first: Uint8Array | null): Promise<void> {
    if (first && first.length <= COALESCE) {
      await this.#write(concatBytes([headBytes, first]));
    } else {
      await this.#write(headBytes);
      if (first) await this.#write(first);
    }
  }

  /** Starts a write without waiting for it (the caller checked none is in flight). */
  #send(bytes: Uint8Array): void {
    this.#inFlight = true;
    this.#sending = bytes;
    this.#pending = this.conn.write(bytes).then(this.#sent, this.#sendFailed);
  }

  // Bound once per connection: closures made per answer would be garbage on the hottest path.
  readonly #sent = (n: number): Promise<void> | undefined => {
    const bytes = this.#sending;
    this.#sending = NOTHING;
    if (n === bytes.length) {
      this.#inFlight = false;
      return;
    }
    return this.#writeAll(bytes.subarray(n)).then(this.#sentRest, this.#sendFailed);
  };
  readonly #sentRest = (): void => {
    this.#inFlight = false;
  };
  readonly #sendFailed = (): void => {
    this.#inFlight = false;
    this.abort();
  };

  async #write(bytes: Uint8Array): Promise<void> {
    if (this.#inFlight) await this.#pending;
    if (this.#closed) throw new Deno.errors.BadResource("the connection is closed");
    await this.#writeAll(bytes);
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    this.#writeDeadline = this.clock.now + this.limits.ioTimeoutMs;
    let off = 0;
    while (off < bytes.length) {
      const n = await this.conn.write(off ? bytes.subarray(off) : bytes);
      off += n;
      this.#wrote += n;
    }
    this.#writeDeadline = Infinity;
  }

  /** Answers a request that cannot be served and leaves the connection to close. */
  async #fail(e: HttpError): Promise<void> {
    const text = `${e.message}\n`;
    const head = formatResponseHead(e.status, [
      ["content-type", "text/plain"],
      ["content-length", String(enc.encode(text).length)],
      ["date", this.clock.date],
      ["connection", "close"],
    ]);
    await this.#write(enc.encode(head + text)).catch(() => {});
  }
}

const CRLF = enc.encode("\r\n");
const LAST_CHUNK = enc.encode("0\r\n\r\n");

/**
 * Reads a response body. Byte streams (Arca's NAR streams, Deno's file
 * streams) are read into one reused 256 KiB buffer (BYOB), so copying a NAR to
 * the socket allocates nothing per chunk; other streams are read as they come.
 */
class BodyReader {
  #byob?: ReadableStreamBYOBReader;
  #plain?: ReadableStreamDefaultReader<Uint8Array>;
  #buffer?: ArrayBuffer;

  constructor(stream: ReadableStream<Uint8Array>) {
    try {
      this.#byob = stream.getReader({ mode: "byob" });
    } catch {
      this.#plain = stream.getReader();
    }
  }

  /**
   * The next piece, or null at the end. With `own`, the piece is the
   * caller's to keep (not a view of the reused buffer).
   */
  async read(own = false): Promise<Uint8Array | null> {
    if (this.#plain) {
      const r = await this.#plain.read();
      return r.done ? null : r.value;
    }
    const buf = this.#buffer ?? pool.pop() ?? new ArrayBuffer(COPY_BUFFER);
    this.#buffer = undefined;
    const r = await this.#byob!.read(new Uint8Array(buf));
    if (r.value) this.#buffer = r.value.buffer as ArrayBuffer;
    if (r.done) return null;
    return own ? r.value.slice() : r.value;
  }

  release(): void {
    const r = this.#byob ?? this.#plain!;
    r.cancel().catch(() => {});
    if (this.#buffer && this.#buffer.byteLength === COPY_BUFFER && pool.length < POOL_MAX) {
      pool.push(this.#buffer);
    }
    this.#buffer = undefined;
  }
}
