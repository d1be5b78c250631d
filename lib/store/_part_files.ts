/** The files of a multipart upload: a part written while hashed, all parts read back in order. */
import { createHash } from "node:crypto";

/** Writes `body` to a new file at `path`; its size and MD5. */
export async function writeHashed(
  path: string,
  body: ReadableStream<Uint8Array>,
): Promise<{ size: number; md5: Uint8Array }> {
  const h = createHash("md5");
  let size = 0;
  const f = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  try {
    for await (const piece of body) {
      h.update(piece);
      size += piece.length;
      let off = 0;
      while (off < piece.length) off += await f.write(piece.subarray(off));
    }
  } finally {
    f.close();
  }
  return { size, md5: new Uint8Array(h.digest()) };
}

/** The files one after another, read 256 KiB at a time. */
export function joinFiles(paths: string[]): ReadableStream<Uint8Array> {
  let next = 0;
  let file: Deno.FsFile | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      while (true) {
        if (!file) {
          if (next === paths.length) return ctl.close();
          file = await Deno.open(paths[next++]);
        }
        const buf = new Uint8Array(256 << 10);
        const n = await file.read(buf);
        if (n === null) {
          file.close();
          file = undefined;
          continue;
        }
        return ctl.enqueue(buf.subarray(0, n));
      }
    },
    cancel() {
      file?.close();
      file = undefined;
    },
  });
}
