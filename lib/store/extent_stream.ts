/**
 * A NAR file's extents read one after the other as one stream, for NARs
 * with packs in a remote store (S3): each extent is one ranged GET, never
 * one per chunk. The first extent is opened before the stream is returned,
 * so a pack that is missing or a store that is down is known while a 404 can
 * still be answered; the next extent is opened while the current one is read
 * (at most two requests open, each held back by the client's pace), and a
 * failure after the first byte errors the stream, which cuts the response:
 * a 200 is never short.
 */

/** Opens bytes of one extent; rejects when they cannot be read. */
export type OpenExtent = () => Promise<ReadableStream<Uint8Array>>;

export async function extentStream(opens: OpenExtent[]): Promise<ReadableStream<Uint8Array>> {
  if (opens.length === 0) return new ReadableStream({ start: (c) => c.close() });
  let i = 0;
  let reader = (await opens[0]()).getReader();
  const ahead = (k: number) => {
    if (k >= opens.length) return undefined;
    const p = opens[k]();
    p.catch(() => {}); // observed when its turn comes
    return p;
  };
  let next = ahead(1);
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      for (;;) {
        const r = await reader.read();
        if (!r.done) {
          ctl.enqueue(r.value);
          return;
        }
        if (++i >= opens.length) {
          ctl.close();
          return;
        }
        reader = (await next!).getReader();
        next = ahead(i + 1);
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      await next?.then((s) => s.cancel(reason)).catch(() => {});
    },
  });
}
