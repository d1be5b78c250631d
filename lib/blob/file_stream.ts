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

/** Streams bytes [start, end) of a file, closing it however the stream ends. */
export function fileRange(path: string, start: number, end: number): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let pos = start;
  return new ReadableStream<Uint8Array>({
    async start() {
      file = await Deno.open(path, { read: true });
      await file.seek(start, Deno.SeekMode.Start);
    },
    async pull(ctl) {
      const want = Math.min(1 << 20, end - pos);
      if (want <= 0) {
        file?.close();
        return ctl.close();
      }
      const buf = new Uint8Array(want);
      const n = await file!.read(buf);
      if (n === null) {
        file?.close();
        return ctl.error(new RangeError(`${path} ended at ${pos}, expected ${end}`));
      }
      pos += n;
      ctl.enqueue(n === want ? buf : buf.subarray(0, n));
    },
    cancel() {
      file?.close();
    },
  });
}
