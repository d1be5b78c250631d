/**
 * Room for the next read of a connection buffer whose unread bytes are
 * `buf[start, end)` and whose end is full: the bytes moved to the front, or,
 * when they fill the whole buffer, a buffer twice as large holding them.
 * The caller's unread bytes are then `[0, end - start)` of the result.
 */
export function makeRoom(
  buf: Uint8Array<ArrayBuffer>,
  start: number,
  end: number,
): Uint8Array<ArrayBuffer> {
  if (start > 0) {
    buf.copyWithin(0, start, end);
    return buf;
  }
  const bigger = new Uint8Array(buf.length * 2);
  bigger.set(buf);
  return bigger;
}
