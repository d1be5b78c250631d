/**
 * Where a request head ends: the index just past the first CRLF CRLF that
 * starts at or after `from` and ends by `to`, or -1. A caller scanning a
 * head that arrives in pieces passes `from` three bytes before where the
 * last scan stopped, so a terminator split across reads is still found.
 */
export function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  // Hop from LF to LF with the native indexOf: far cheaper than a byte loop.
  let i = from + 1;
  for (;;) {
    const lf = buf.indexOf(10, i);
    if (lf < 0 || lf + 2 >= to) return -1;
    if (buf[lf - 1] === 13 && buf[lf + 1] === 13 && buf[lf + 2] === 10) return lf + 3;
    i = lf + 1;
  }
}
