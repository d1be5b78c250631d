/**
 * The filesystem as a `NarNode` tree, for `encodeNar`: what `nix-store
 * --dump` reads (Nix: libutil/archive.cc `dumpPath`). Entries are lstat'ed
 * only when the encoder reaches them; a file is executable when its owner x
 * bit is set; sockets, FIFOs and devices are refused with their path.
 */
import type { NarDirEntry, NarNode } from "../nar/mod.ts";
import { encodeNar } from "../nar/mod.ts";

/** Reads per call for big files; small files are read in one go. */
const READ_SIZE = 1024 * 1024;

/** Describes `path` (not following a final symlink) as a NAR node. */
export async function narSourceFromPath(path: string): Promise<NarNode> {
  const info = await Deno.lstat(path);
  if (info.isSymlink) return { type: "symlink", target: await Deno.readLink(path) };
  if (info.isDirectory) return { type: "directory", entries: () => entriesOf(path) };
  if (info.isFile) {
    const size = info.size;
    return {
      type: "regular",
      executable: ((info.mode ?? 0) & 0o100) !== 0,
      size,
      contents: () => size <= READ_SIZE ? readSmall(path) : readChunks(path, size),
    };
  }
  throw new TypeError(
    `Cannot archive ${path}: not a regular file, directory or symlink (socket, FIFO or device?)`,
  );
}

/** `encodeNar(await narSourceFromPath(path))` as one stream. */
export function narDumpPath(path: string): ReadableStream<Uint8Array> {
  let inner: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      inner ??= encodeNar(await narSourceFromPath(path)).getReader();
      const r = await inner.read();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel(reason) {
      await inner?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

async function* entriesOf(dir: string): AsyncGenerator<NarDirEntry> {
  for await (const e of Deno.readDir(dir)) {
    const child = `${dir}/${e.name}`;
    yield { name: e.name, node: () => narSourceFromPath(child) };
  }
}

async function* readSmall(path: string): AsyncGenerator<Uint8Array> {
  yield await Deno.readFile(path);
}

/** Fresh buffers each read: the encoder hands the chunks on without copying. */
async function* readChunks(path: string, size: number): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path);
  let left = size;
  for (;;) {
    // One byte more than expected, so a grown file shows up as too long.
    const buf = new Uint8Array(Math.min(READ_SIZE, left + 1));
    const n = await file.read(buf);
    if (n === null) return;
    left -= n;
    yield buf.subarray(0, n);
  }
}
