/** Streaming parts of files to HTTP responses. */

/**
 * The rest of a file from `start`, as Deno's own file stream: handed to
 * `Response` as is, it is copied to the socket without passing through JS.
 */
export async function fileTail(path: string, start: number): Promise<ReadableStream<Uint8Array>> {
  const f = await Deno.open(path);
  try {
    if (start > 0) await f.seek(start, Deno.SeekMode.Start);
  } catch (e) {
    f.close();
    throw e;
  }
  return f.readable;
}

/**
 * Streams bytes [start, end) of a file, closing it however the stream ends.
 * A byte stream: BYOB readers get the bytes read into their own buffer.
 */
export function fileRange(path: string, start: number, end: number): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let pos = start;
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 256 * 1024,
    async start(ctl) {
      file = await Deno.open(path, { read: true });
      await file.seek(start, Deno.SeekMode.Start);
      if (pos >= end) {
        file.close();
        ctl.close();
      }
    },
    async pull(ctl) {
      const req = ctl.byobRequest!;
      const v = req.view!;
      const want = Math.min(v.byteLength, end - pos);
      const n = await file!.read(new Uint8Array(v.buffer, v.byteOffset, want));
      if (n === null) {
        file?.close();
        throw new RangeError(`${path} ended at ${pos}, expected ${end}`);
      }
      pos += n;
      req.respond(n);
      if (pos >= end) {
        file?.close();
        ctl.close();
      }
    },
    cancel() {
      file?.close();
    },
  });
}
