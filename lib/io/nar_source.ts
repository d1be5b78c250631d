/**
 * The filesystem as a `NarNode` tree, for `encodeNar`: what `nix-store
 * --dump` reads (Nix: libutil/archive.cc `dumpPath`). Entries are lstat'ed
 * only when the encoder reaches them; a file is executable when its owner x
 * bit is set; sockets, FIFOs and devices are refused with their path.
 */
import type { NarNode } from "../nar/nar_node.ts";
import { encodeNar } from "../nar/encode_nar.ts";

/** Reads per call for big files; small files are read in one go. */
const READ_SIZE = 1024 * 1024;

/**
 * With `reuseBuffers`, file bytes are read into one 8 MiB ring (shared by
 * all such streams) instead of a fresh buffer per read, so an import makes
 * no garbage per file. A piece stays valid until 8 MiB more have been read:
 * enough for `encodeNar`'s 1 MiB read-ahead plus the piece being consumed,
 * for up to two streams read at once by consumers that are done with a piece
 * before they pull the next (ingest is). Consumers that keep pieces must not
 * use it.
 */
export interface NarSourceOptions {
  reuseBuffers?: boolean;
}

const RING_SIZE = 8 * READ_SIZE;

/** Hands out views of one buffer in turn, wrapping around. */
class ReadRing {
  #buf = new Uint8Array(RING_SIZE);
  #pos = 0;
  take(n: number): Uint8Array {
    if (this.#pos + n > RING_SIZE) this.#pos = 0;
    const v = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }
}

let ring: ReadRing | undefined;

/** Describes `path` (not following a final symlink) as a NAR node. */
export function narSourceFromPath(path: string, opts: NarSourceOptions = {}): Promise<NarNode> {
  try {
    return Promise.resolve(nodeOf(path, opts.reuseBuffers ? (ring ??= new ReadRing()) : undefined));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Metadata calls and small reads are synchronous: a store path is mostly
 * small files in the page cache, where a thread-pool round trip per lstat
 * and per read cost more than the call itself and left the encoder waiting.
 */
function nodeOf(path: string, ring: ReadRing | undefined): NarNode {
  const info = Deno.lstatSync(path);
  if (info.isSymlink) return { type: "symlink", target: Deno.readLinkSync(path) };
  if (info.isDirectory) {
    return {
      type: "directory",
      names: () => namesOf(path),
      child: (name) => nodeOf(`${path}/${name}`, ring),
    };
  }
  if (info.isFile) {
    const size = info.size;
    const small = size <= READ_SIZE;
    return {
      type: "regular",
      executable: ((info.mode ?? 0) & 0o100) !== 0,
      size,
      contents: () => small ? readSmall(path, size, ring) : readChunks(path, size, ring),
      bytes: small ? () => readWhole(path, size, ring) : undefined,
    };
  }
  throw new TypeError(
    `Cannot archive ${path}: not a regular file, directory or symlink (socket, FIFO or device?)`,
  );
}

/** `encodeNar(await narSourceFromPath(path, opts))` as one stream. */
export function narDumpPath(path: string, opts: NarSourceOptions = {}): ReadableStream<Uint8Array> {
  let inner: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      inner ??= encodeNar(await narSourceFromPath(path, opts)).getReader();
      const r = await inner.read();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel(reason) {
      await inner?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function namesOf(dir: string): string[] {
  const names: string[] = [];
  for (const e of Deno.readDirSync(dir)) names.push(e.name);
  return names;
}

async function* readSmall(
  path: string,
  size: number,
  ring: ReadRing | undefined,
): AsyncGenerator<Uint8Array> {
  yield readWhole(path, size, ring);
}

/** A small file in one synchronous read (into the ring when given). */
function readWhole(path: string, size: number, ring: ReadRing | undefined): Uint8Array {
  if (!ring) return Deno.readFileSync(path);
  using file = Deno.openSync(path);
  // One byte more than expected, so a grown file shows up as too long.
  const buf = ring.take(size + 1);
  let got = 0;
  while (got < buf.length) {
    const n = file.readSync(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Fresh buffers each read unless a ring is given: the encoder hands the chunks on without copying. */
async function* readChunks(
  path: string,
  size: number,
  ring: ReadRing | undefined,
): AsyncGenerator<Uint8Array> {
  using file = await Deno.open(path);
  let left = size;
  for (;;) {
    // One byte more than expected, so a grown file shows up as too long.
    const want = Math.min(READ_SIZE, left + 1);
    const buf = ring ? ring.take(want) : new Uint8Array(want);
    const n = await file.read(buf);
    if (n === null) return;
    left -= n;
    yield buf.subarray(0, n);
  }
}
