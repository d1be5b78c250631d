/**
 * One client connection of the portable HTTP/1.1 server (Deno's sockets):
 * reads request heads, answers `quick` requests straight from bytes in
 * memory, and hands the rest to `serveRequest` (lib/server/respond.ts).
 * Requests on one connection are answered in order (pipelining works, one
 * at a time).
 *
 * A connection closes on anything that leaves the byte stream ambiguous: a
 * malformed head (answered 400 first), a request body the app did not read
 * to its end, a response body that ends before its Content-Length (so the
 * client sees a short transfer, never a short 200 that looks complete).
 */
import { concatBytes } from "../encoding/mod.ts";
import { ChunkedDecoder, findHeadEnd, HttpError, makeRoom } from "../http1/mod.ts";
import { HeadParser, type RequestHead } from "../http1/mod.ts";
import { type QuickAnswer, readHead } from "./read_head.ts";
import type { Clock, HttpApp, HttpLimits } from "./server_options.ts";
import { type Exchange, type RequestBody, sendError, serveRequest } from "./respond.ts";
import { WIRE } from "./wire_counters.ts";

const INITIAL_BUFFER = 8192;
const BODY_READ = 65536;
const enc = new TextEncoder();
const CONTINUE = enc.encode("HTTP/1.1 100 Continue\r\n\r\n");
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
  /** A write started but not awaited (quick answers), which the next write waits for. */
  #pending: Promise<void> | undefined;
  #inFlight = false;
  /** The quick answer `#pending` is writing. */
  #sending: Uint8Array = NOTHING;
  /** Bytes of the unfinished head already searched for its end. */
  #scanned = 0;
  #heads = new HeadParser();
  readonly #exchange: Exchange;

  constructor(
    private conn: Deno.TcpConn,
    app: HttpApp,
    private quick: QuickAnswer | undefined,
    private limits: HttpLimits,
    private clock: Clock,
    private onGone: (c: HttpConnection) => void,
    private counters: Uint32Array,
  ) {
    this.#exchange = {
      app: app.handle,
      sink: { write: (bytes) => this.#write(bytes) },
      date: () => clock.date,
      stopping: () => this.#stopping,
      openBody: (head) => this.#body(head),
      observe: app.observe,
    };
  }

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
        if (!(await serveRequest(this.#exchange, head)) || this.#stopping) break;
      }
    } catch (e) {
      if (e instanceof HttpError) {
        this.counters[WIRE.badHeads]++;
        await sendError(this.#exchange, e);
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
    const head = readHead(this.#heads, this.quick, buf, this.#start, end, this.clock.date);
    this.#start = end;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    this.#scanned = 0;
    this.#idle = false;
    this.#deadline = Infinity;
    return head;
  }

  /** Makes room after `#end` for the next read (the head limit bounds the growth). */
  #makeRoom(): void {
    if (this.#end < this.#buf.length) return;
    this.#buf = makeRoom(this.#buf, this.#start, this.#end);
    this.#end -= this.#start;
    this.#start = 0;
  }

  /** A stream over the request body, reading from the connection as the app pulls. */
  #body(head: RequestHead): RequestBody {
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
    }
    this.#writeDeadline = Infinity;
  }
}
