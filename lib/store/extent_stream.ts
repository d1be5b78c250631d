/**
 * Streams bytes [start, end) of a NAR file stored as extents of pack files.
 *
 * A byte stream: a BYOB reader (Arca's HTTP server) gets the bytes read
 * straight from the page cache into its own buffer, across as many extents as
 * fit, so serving allocates nothing per chunk and costs one read per extent
 * or per buffer, whichever is smaller. Other readers get 256 KiB pieces.
 *
 * Every pack the range needs is opened before this returns: gc may unlink a
 * pack (or compact it away) while a slow client is still reading, and an
 * unlinked file stays readable only through a handle opened before.
 *
 * Opens and reads are synchronous, as nginx's are by default: packs being
 * served are in the page cache, where a read is a copy of ~30 us, and an
 * async read costs a hand-off to a thread and back per read (measured: 25%
 * more server CPU per NAR). The price is that a read from a cold disk
 * stalls the other connections for as long as the disk takes.
 */
import { type CacheLayout, packPath } from "../blob/cache_layout.ts";
import type { Extent } from "./nar_extents.ts";

const PIECE = 256 * 1024;

/**
 * `onShort` is told when a pack ends before its extent does (damage: the
 * manifest promised more); the stream then errors, which cuts the response.
 */
export function extentStream(
  layout: CacheLayout,
  extents: readonly Extent[],
  start: number,
  end: number,
  onShort: (message: string) => Promise<void>,
): ReadableStream<Uint8Array> {
  // Find the extent holding `start`.
  let k = 0;
  let extentStart = 0;
  while (k < extents.length && extentStart + extents[k].length <= start) {
    extentStart += extents[k++].length;
  }
  const files = new Map<string, { file: Deno.FsFile; pos: number }>();
  const closeAll = () => {
    for (const f of files.values()) f.file.close();
    files.clear();
  };
  try {
    for (let i = k, p = extentStart; i < extents.length && p < end; p += extents[i++].length) {
      const pack = extents[i].pack;
      if (!files.has(pack)) {
        files.set(pack, { file: Deno.openSync(packPath(layout, pack)), pos: -1 });
      }
    }
  } catch (e) {
    closeAll();
    throw e;
  }
  let pos = start;
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: PIECE,
    start(ctl) {
      if (pos >= end) {
        closeAll();
        ctl.close();
      }
    },
    async pull(ctl) {
      const req = ctl.byobRequest!;
      const v = req.view!;
      const view = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      let filled = 0;
      try {
        while (filled < view.length && pos < end) {
          const e = extents[k];
          const within = pos - extentStart;
          const want = Math.min(view.length - filled, e.length - within, end - pos);
          const f = files.get(e.pack)!;
          // Seek only when this read does not continue the last one.
          if (f.pos !== e.offset + within) f.file.seekSync(e.offset + within, Deno.SeekMode.Start);
          const n = f.file.readSync(view.subarray(filled, filled + want));
          if (n === null) {
            const msg = `pack ${e.pack} ends at ${e.offset + within}, wanted ${
              e.offset + e.length
            }`;
            await onShort(msg);
            throw new RangeError(msg);
          }
          f.pos = e.offset + within + n;
          filled += n;
          pos += n;
          if (pos === extentStart + e.length) {
            extentStart += e.length;
            k++;
          }
        }
      } catch (e) {
        closeAll();
        throw e;
      }
      req.respond(filled);
      if (pos >= end) {
        closeAll();
        ctl.close();
      }
    },
    cancel: closeAll,
  });
}
