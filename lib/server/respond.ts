/**
 * One request through the app and its response onto the wire: the part of
 * HTTP/1.1 that is the same whoever moves the bytes (the portable server on
 * Deno's sockets, or the epoll front in its worker). It decides framing
 * (Content-Length, chunked, or the end of the connection for HTTP/1.0),
 * which fields the app may not set, when a body is dropped (HEAD, 204, 304),
 * whether the connection may carry another request, and what a failing app
 * or body turns into (500 before the first byte, a cut transfer after it).
 */
import { concatBytes } from "../encoding/mod.ts";
import { formatResponseHead, HttpError, type RequestHead } from "../http1/mod.ts";
import { type AppHandler, type AppResponse, HeadRequest } from "./app.ts";
import { FileBody } from "../blob/file_body.ts";
import type { ResponseObserver } from "./server_options.ts";

/** Where a response goes. `write` resolves when `bytes` may be reused. */
export interface ResponseSink {
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Sends `head` and then the body's files as they are (sendfile), taking
   * over closing them; false when it cannot, and the body is streamed.
   */
  sendFile?(head: Uint8Array, body: FileBody): Promise<boolean>;
}

/** A request body as the driver reads it from its connection. */
export interface RequestBody {
  stream: ReadableStream<Uint8Array>;
  /** True once the body was read to its end (so the next request's bytes are next). */
  done(): boolean;
}

export interface Exchange {
  app: AppHandler;
  sink: ResponseSink;
  /** The current Date field value. */
  date(): string;
  /** True once the server is shutting down: the connection ends after this response. */
  stopping(): boolean;
  /** A stream over the body of `head`, read from the connection as the app pulls. */
  openBody(head: RequestHead): RequestBody;
  /** Told of every response, once it is written (or cut). */
  observe?: ResponseObserver;
}

/**
 * Small bodies go out in one write with their head. Larger ones are written
 * on their own: copying them after the head would cost more than a write.
 */
const COALESCE = 16384;
/**
 * Response bodies are copied through buffers of this size (reused, see
 * `pool`). Measured on NAR downloads: 1 MiB was faster for one client but
 * ~30% slower with 16 (16 buffers no longer fit the CPU caches).
 */
const COPY_BUFFER = 256 * 1024;
/** Buffers kept for reuse: enough for as many concurrent downloads. */
const POOL_MAX = 32;
const pool: ArrayBuffer[] = [];
const enc = new TextEncoder();
const UNSAFE_FIELD = /[\r\n\0]/;
const CRLF = enc.encode("\r\n");
const LAST_CHUNK = enc.encode("0\r\n\r\n");

/**
 * Serves one request whose head was read. Returns whether the connection
 * may carry another request (false: the driver closes it once the writes
 * are done). Never throws: failures are answered or end the response.
 */
export async function serveRequest(x: Exchange, head: RequestHead): Promise<boolean> {
  const hasBody = head.chunked || head.contentLength > 0;
  const takesBody = head.method !== "GET" && head.method !== "HEAD";
  const body = hasBody && takesBody ? x.openBody(head) : undefined;
  // An absolute-form target is the URL itself: it must parse as one.
  if (head.target[0] !== "/" && !URL.canParse(head.target)) {
    const bad = new Counted(x.sink);
    await sendError(
      { sink: bad, date: x.date },
      new HttpError(400, `malformed request: invalid URL ${head.target}`),
    );
    x.observe?.(head.method, head.path, 400, bad.wrote);
    return false;
  }
  const req = new HeadRequest(head, body?.stream ?? null);
  let res: AppResponse;
  try {
    res = await x.app(req);
  } catch (e) {
    // Never leak internals; never take the server down.
    console.error(`arca: ${head.method} ${head.path}: request failed: ${(e as Error).message}`);
    res = new Response("internal error\n", {
      status: 500,
      headers: { "content-type": "text/plain", "cache-control": "no-store" },
    });
  }
  // Unread request bytes would be taken for the next request: close instead.
  const keep = head.keepAlive && !x.stopping() && !(hasBody && !body?.done());
  const out = new Counted(x.sink);
  let status = res.status;
  try {
    return await respond(out, x.date(), res, head, keep) && keep;
  } catch (e) {
    const msg = (e as Error).message;
    if (out.wrote > 0) {
      console.error(`arca: ${head.method} ${head.path}: response cut short: ${msg}`);
    } else {
      console.error(`arca: ${head.method} ${head.path}: response failed: ${msg}`);
      status = 500;
      await sendError({ sink: out, date: x.date }, new HttpError(500, "internal error"));
    }
    return false;
  } finally {
    x.observe?.(head.method, head.path, status, out.wrote);
  }
}

/** Answers a request that cannot be served; the connection is to close after it. */
export async function sendError(x: Pick<Exchange, "sink" | "date">, e: HttpError): Promise<void> {
  await x.sink.write(errorResponse(e, x.date())).catch(() => {});
}

const BUSY_BODY = "too many connections, retry later\n";
/** The whole answer to a connection over the server's cap, which is then closed. */
export const BUSY_RESPONSE = enc.encode(
  "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n" +
    `content-length: ${BUSY_BODY.length}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${BUSY_BODY}`,
);

/** The whole answer to a request that cannot be served, closing the connection. */
export function errorResponse(e: HttpError, date: string): Uint8Array {
  const text = `${e.message}\n`;
  const head = formatResponseHead(e.status, [
    ["content-type", "text/plain"],
    ["content-length", String(enc.encode(text).length)],
    ["date", date],
    ["connection", "close"],
  ]);
  return enc.encode(head + text);
}

/** Counts what was handed to the sink: a 500 is possible only before the first byte. */
class Counted implements ResponseSink {
  wrote = 0;
  constructor(private sink: ResponseSink) {}
  write(bytes: Uint8Array): Promise<void> {
    this.wrote += bytes.length;
    return this.sink.write(bytes);
  }
  async sendFile(head: Uint8Array, body: FileBody): Promise<boolean> {
    if (!this.sink.sendFile) return false;
    // Counted first: once the sink has started, a failure is a cut transfer.
    this.wrote += head.length;
    if (await this.sink.sendFile(head, body)) {
      // Handed over whole: the driver sends the files' bytes from here.
      this.wrote += body.length;
      return true;
    }
    this.wrote -= head.length;
    return false;
  }
}

/** Writes the response; false when the connection cannot carry another request. */
async function respond(
  out: Counted,
  date: string,
  res: AppResponse,
  head: RequestHead,
  keep: boolean,
): Promise<boolean> {
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
  if (!dated) fields.push(["date", date]);
  if (!keep) fields.push(["connection", "close"]);
  else if (head.minor === 0) fields.push(["connection", "keep-alive"]);
  let stream = res.body;
  if (stream instanceof Uint8Array) declared = stream.length;
  if (stream instanceof FileBody) declared = stream.length;
  const headBytes = () => enc.encode(formatResponseHead(status, fields));
  if (head.method === "HEAD" || status === 204 || status === 304 || status < 200) {
    if (stream instanceof ReadableStream) await stream.cancel().catch(() => {});
    if (stream instanceof FileBody) stream.close();
    if (declared >= 0 && status !== 204 && status !== 304) {
      fields.push(["content-length", String(declared)]);
    }
    await out.write(headBytes());
    return true;
  }
  if (!stream) {
    fields.push(["content-length", "0"]);
    await out.write(headBytes());
    return true;
  }
  if (stream instanceof Uint8Array) {
    fields.push(["content-length", String(declared)]);
    await sendWithHead(out, headBytes(), stream);
    return true;
  }
  if (stream instanceof FileBody) {
    fields.push(["content-length", String(declared)]);
    const h = headBytes();
    if (await out.sendFile(h, stream)) return true;
    stream = stream.stream();
    fields.pop();
  }
  const body = new BodyReader(stream);
  try {
    if (declared >= 0) {
      fields.push(["content-length", String(declared)]);
      await sendFixed(out, body, headBytes(), declared);
      return true;
    }
    // No length given: a body that turns out to be one piece gets one anyway.
    const first = await body.read(true);
    const second = first && (await body.read(true));
    if (!first || !second) {
      fields.push(["content-length", String(first?.length ?? 0)]);
      await sendWithHead(out, headBytes(), first);
      return true;
    }
    if (head.minor === 0) {
      // HTTP/1.0 has no chunked coding: the end of the connection ends the body.
      if (keep) fields.pop();
      fields.push(["connection", "close"]);
      await out.write(headBytes());
      for (let c: Uint8Array | null = first; c; c = c === first ? second : await body.read()) {
        await out.write(c);
      }
      return false;
    }
    fields.push(["transfer-encoding", "chunked"]);
    await out.write(headBytes());
    for (let c: Uint8Array | null = first; c; c = c === first ? second : await body.read()) {
      if (c.length) {
        await out.write(concatBytes([enc.encode(`${c.length.toString(16)}\r\n`), c, CRLF]));
      }
    }
    await out.write(LAST_CHUNK);
    return true;
  } finally {
    body.release();
  }
}

async function sendFixed(
  out: ResponseSink,
  body: BodyReader,
  headBytes: Uint8Array,
  declared: number,
): Promise<void> {
  let sent = 0;
  let headSent = false;
  for (;;) {
    const c = await body.read();
    if (!c) break;
    if (sent + c.length > declared) {
      throw new Error(`the body is longer than its Content-Length ${declared}`);
    }
    if (!headSent) {
      await sendWithHead(out, headBytes, c);
      headSent = true;
    } else await out.write(c);
    sent += c.length;
  }
  if (!headSent) await out.write(headBytes);
  if (sent < declared) {
    throw new Error(`the body ended after ${sent} of ${declared} bytes`);
  }
}

async function sendWithHead(
  out: ResponseSink,
  headBytes: Uint8Array,
  first: Uint8Array | null,
): Promise<void> {
  if (first && first.length <= COALESCE) {
    await out.write(concatBytes([headBytes, first]));
  } else {
    await out.write(headBytes);
    if (first) await out.write(first);
  }
}

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
