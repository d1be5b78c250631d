/**
 * `fn` over every item of `src`, up to `limit` calls at a time, results in
 * the order of `src`: a bucket answers GETs in parallel, one at a time is
 * a round trip per narinfo. A rejection comes out at its turn; the calls
 * still in flight then finish unobserved (their rejections are handled).
 */
export async function* readAhead<T, R>(
  src: AsyncIterable<T>,
  limit: number,
  fn: (item: T) => Promise<R>,
): AsyncIterable<R> {
  const inFlight: Promise<R>[] = [];
  for await (const item of src) {
    const p = fn(item);
    p.catch(() => {}); // awaited below, in order; not an unhandled rejection meanwhile
    inFlight.push(p);
    if (inFlight.length >= limit) yield await inFlight.shift()!;
  }
  while (inFlight.length) yield await inFlight.shift()!;
}
