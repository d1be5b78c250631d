/**
 * A request head out of a connection's buffer, or the app's quick answer to
 * it: shared by both HTTP drivers so they answer the same requests quickly.
 */
import type { HeadParser, RequestHead } from "../http1/mod.ts";

/**
 * A whole response (status line, fields, body) for a GET (or a HEAD when
 * `head`) of the target `buf[from, to)` that can be answered from memory,
 * or undefined to go through the app. The target is given as bytes, the
 * way it arrived (origin form, one byte per character): the hot path makes
 * no string for it. `date` is the current Date field value. Must be fast,
 * must not throw, and must not keep `buf`.
 */
export type QuickAnswer = (
  buf: Uint8Array,
  from: number,
  to: number,
  head: boolean,
  date: string,
) => Uint8Array | undefined;

/** Quick answers keep the connection: only for requests without a body that allow that. */
function bodiless(h: RequestHead): boolean {
  return h.keepAlive && h.minor === 1 && h.contentLength <= 0 && !h.chunked;
}

/**
 * The head `buf[start, end)` parsed, or `quick`'s answer to it. Throws
 * HttpError for a head that cannot be served.
 */
export function readHead(
  heads: HeadParser,
  quick: QuickAnswer | undefined,
  buf: Uint8Array,
  start: number,
  end: number,
  date: string,
): RequestHead | Uint8Array {
  // The hot path: the fields repeat the previous request's, so no head is built.
  const repeat = quick && heads.scanRepeat(buf, start, end);
  if (repeat && heads.method && bodiless(repeat)) {
    const answer = quick(buf, heads.targetStart, heads.targetEnd, heads.method === "HEAD", date);
    if (answer) return answer;
  }
  const head = heads.parse(buf, start, end);
  if (quick && !repeat && (head.method === "GET" || head.method === "HEAD") && bodiless(head)) {
    // A connection's first request, or changed fields: the target is still
    // in the buffer, one byte per character after the method and a space.
    const at = start + head.method.length + 1;
    const answer = quick(buf, at, at + head.target.length, head.method === "HEAD", date);
    if (answer) return answer;
  }
  return head;
}
