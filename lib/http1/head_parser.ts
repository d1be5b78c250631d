/**
 * Parses the request heads of one connection. Keep-alive clients (Nix's
 * curl, wrk) send the same header fields with every request, so a head whose
 * field block is byte-for-byte the previous head's needs only its request
 * line read: the same bytes parse to the same fields, framing and Host. Any
 * other head, and any request line out of the ordinary, goes through
 * `parseRequestHead`, so the two paths cannot disagree. This saves the text
 * decoding, the pattern match and a string per field on every request of the
 * narinfo hot path.
 *
 * The field blocks of the last few full parses are shared by every parser of
 * the thread, so a new connection's first head takes the same shortcut when a
 * client sends what it (or another) sent before: curl and Nix open each
 * connection with the same fields. On a cold connection the full parse cost
 * ~0.1 ms of the time to the first byte (a Range request in W4).
 */
import { parseRequestHead, pathOfTarget, type RequestHead } from "./request_head.ts";

const SP = 32;
const CR = 13;
const LF = 10;
const VERSION = [72, 84, 84, 80, 47, 49, 46]; // "HTTP/1."
// The fast path takes ASCII only, where UTF-8 and latin1 agree; the native decoder is the quicker.
const ascii = new TextDecoder();

// Method bytes (RFC 9110 token) and plain ASCII target bytes; anything else takes the full parse.
const TOKEN_BYTE = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_BYTE[c.charCodeAt(0)] = 1;
}

/** A head parsed in full and its field block, for heads that repeat the block. */
interface Known {
  block: Uint8Array<ArrayBuffer>;
  head: RequestHead;
}

/** Recent full parses, newest last, shared by the thread's parsers. */
const recent: Known[] = [];
/** How many blocks are remembered, and up to what size (bounded memory). */
const RECENT_MAX = 8;
const RECENT_BLOCK_MAX = 2048;

function sameBytes(buf: Uint8Array, at: number, end: number, block: Uint8Array): boolean {
  if (end - at !== block.length) return false;
  for (let k = 0; k < block.length; k++) if (buf[at + k] !== block[k]) return false;
  return true;
}

export class HeadParser {
  /** The previous head's field block (after its request line, with the final CRLF). */
  #block = new Uint8Array(0);
  #last: RequestHead | undefined;
  /** Set by a successful `scanRepeat`: the method when it is GET or HEAD. */
  method: "GET" | "HEAD" | undefined;
  /** Set by a successful `scanRepeat`: where the method ends and the target lies in the buffer. */
  methodEnd = 0;
  targetStart = 0;
  targetEnd = 0;

  /**
   * Parses `buf[start, end)`, a whole head up to its CRLF CRLF (passed as
   * bounds: a view per request would be garbage on the hot path); throws
   * HttpError like `parseRequestHead`.
   */
  parse(buf: Uint8Array, start: number, end: number): RequestHead {
    const last = this.scanRepeat(buf, start, end);
    if (last) {
      const target = ascii.decode(buf.subarray(this.targetStart, this.targetEnd));
      return {
        method: this.method ?? ascii.decode(buf.subarray(start, this.methodEnd)),
        target,
        path: pathOfTarget(target),
        minor: last.minor,
        headers: last.headers,
        contentLength: last.contentLength,
        chunked: last.chunked,
        keepAlive: last.keepAlive,
        expectContinue: last.expectContinue,
        host: last.host,
      };
    }
    const bytes = buf.subarray(start, end);
    const head = parseRequestHead(bytes);
    this.#block = bytes.slice(bytes.indexOf(LF) + 1);
    this.#last = head;
    if (this.#block.length <= RECENT_BLOCK_MAX) {
      if (recent.length === RECENT_MAX) recent.shift();
      recent.push({ block: this.#block, head });
    }
    return head;
  }

  /**
   * When `buf[start, end)` repeats the previous head's field block after a
   * plain ASCII request line of the same HTTP version: the previous head,
   * whose fields and framing (keepAlive, contentLength, ...) hold for this
   * one too, with `method`, `methodEnd`, `targetStart` and `targetEnd` set.
   * Otherwise undefined. Nothing is allocated either way.
   */
  scanRepeat(buf: Uint8Array, start: number, end: number): RequestHead | undefined {
    if (!this.#last && recent.length === 0) return undefined;
    let i = start;
    while (i < end && buf[i] !== SP) {
      if (TOKEN_BYTE[buf[i]] !== 1) return undefined;
      i++;
    }
    const methodEnd = i;
    if (methodEnd === start || methodEnd === end) return undefined;
    const targetStart = ++i;
    while (i < end && buf[i] > SP && buf[i] < 127) i++;
    const targetEnd = i;
    // " HTTP/1.<minor>\r\n": the minor must be the previous head's, which shaped its fields.
    if (targetEnd === targetStart || targetEnd + 11 > end || buf[i++] !== SP) return undefined;
    for (const b of VERSION) if (buf[i++] !== b) return undefined;
    const minor = buf[i++] - 48;
    if (buf[i++] !== CR || buf[i++] !== LF) return undefined;
    let last = this.#last;
    if (!last || last.minor !== minor || !sameBytes(buf, i, end, this.#block)) {
      // Not this connection's previous block: maybe one the thread parsed lately.
      last = undefined;
      for (let r = recent.length - 1; r >= 0; r--) {
        const k = recent[r];
        if (k.head.minor === minor && sameBytes(buf, i, end, k.block)) {
          last = this.#last = k.head;
          this.#block = k.block;
          break;
        }
      }
      if (!last) return undefined;
    }
    this.method = knownMethod(buf, start, methodEnd);
    this.methodEnd = methodEnd;
    this.targetStart = targetStart;
    this.targetEnd = targetEnd;
    return last;
  }
}

/** GET and HEAD as constant strings, read without building one; undefined for others. */
function knownMethod(buf: Uint8Array, start: number, end: number): "GET" | "HEAD" | undefined {
  const n = end - start;
  if (n === 3 && buf[start] === 71 && buf[start + 1] === 69 && buf[start + 2] === 84) return "GET";
  if (
    n === 4 && buf[start] === 72 && buf[start + 1] === 69 && buf[start + 2] === 65 &&
    buf[start + 3] === 68
  ) {
    return "HEAD";
  }
  return undefined;
}
