/**
 * Streaming `nix-archive-1` encoder, the equivalent of `nix-store --dump`
 * (Nix: libutil/archive.cc `dumpPath`).
 *
 * ```
 * NarNode tree ──(walk depth first, entries sorted by UTF-8 bytes)──► 64 KiB header
 *   batches + file chunks passed through ──► ReadableStream<Uint8Array> (pull-based)
 * ```
 * Only one directory's names per level and one file chunk are held at a time.
 */
import type { NarNode } from "./nar_node.ts";
import { NarError } from "./nar_error.ts";
import { compareUtf8, nameProblemOf, showBytes } from "./_names.ts";
import {
  ChunkWriter,
  CLOSE,
  DIRECTORY,
  ENTRY,
  EXECUTABLE,
  MAGIC,
  NODE,
  REGULAR,
  SYMLINK,
} from "./_wire.ts";

/** Read ahead up to this many bytes so file IO overlaps with the consumer. */
const HIGH_WATER = 1024 * 1024;

/**
 * Encodes a node tree as a NAR. The stream errors with `NarError` when the
 * tree is invalid (bad or duplicate names, a file yielding more or fewer bytes
 * than its `size`), or with whatever the source itself throws.
 *
 * @example
 * ```ts
 * const nar = encodeNar({ type: "symlink", target: "/etc" });
 * const bytes = new Uint8Array(await new Response(nar).arrayBuffer());
 * if (bytes.length !== 120) throw new Error("unexpected size");
 * ```
 */
export function encodeNar(root: NarNode): ReadableStream<Uint8Array> {
  const chunks = narChunks(root);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await chunks.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel() {
      await chunks.return(undefined);
    },
  }, { highWaterMark: HIGH_WATER, size: (c) => c.byteLength });
}

type Directory = Extract<NarNode, { type: "directory" }>;

/** An open directory: its names in NAR order and the next one to write. */
interface Frame {
  dir: Directory;
  names: string[];
  next: number;
  path: string;
}

const utf8 = new TextEncoder();

async function* narChunks(root: NarNode): AsyncGenerator<Uint8Array, void, undefined> {
  const w = new ChunkWriter();
  w.raw(MAGIC);
  const stack: Frame[] = [];
  let node: NarNode | undefined = root;
  let path = "";
  for (;;) {
    if (node !== undefined) {
      const kind = (node as { type?: unknown }).type;
      if (kind === "regular") {
        const file = node as Extract<NarNode, { type: "regular" }>;
        if (typeof file.bytes === "function") wholeRegular(w, file, file.bytes(), path);
        else yield* regular(w, file, path);
      } else if (kind === "symlink") {
        symlink(w, (node as { target?: unknown }).target, path);
      } else if (kind === "directory") {
        w.raw(DIRECTORY);
        const dir = node as Directory;
        const listed = dir.names();
        const names = sortedNames(
          listed instanceof Promise ? await listed : listed,
          path,
          w.offset,
        );
        stack.push({ dir, names, next: 0, path });
      } else {
        throw fail(w, path, `unknown node type ${JSON.stringify(String(kind))}`);
      }
      // A directory stays open; a leaf closes itself and its entry.
      if (kind !== "directory" && stack.length > 0) w.raw(CLOSE);
      node = undefined;
    } else {
      const top = stack.at(-1);
      if (top === undefined) break;
      if (top.next < top.names.length) {
        const name = top.names[top.next++];
        w.raw(ENTRY);
        w.string(utf8.encode(name));
        w.raw(NODE);
        path = top.path === "" ? name : `${top.path}/${name}`;
        // Awaited only when it is a promise: a microtask per entry adds up in big trees.
        const child = top.dir.child(name);
        node = child instanceof Promise ? await child : child;
      } else {
        stack.pop();
        w.raw(CLOSE);
        if (stack.length > 0) w.raw(CLOSE);
      }
    }
    // Most steps only add to the current batch: nothing to hand on.
    if (w.ready.length > 0) { for (const c of w.take()) yield c; }
  }
  w.flush();
  for (const c of w.take()) yield c;
}

async function* regular(
  w: ChunkWriter,
  node: Extract<NarNode, { type: "regular" }>,
  path: string,
): AsyncGenerator<Uint8Array, void, undefined> {
  const size = regularHead(w, node, path);
  let seen = 0;
  for await (const chunk of node.contents()) {
    if (!(chunk instanceof Uint8Array)) throw fail(w, path, "contents() yielded a non-Uint8Array");
    seen += chunk.length;
    if (seen > size) {
      throw fail(w, path, `file has more than its declared ${size} bytes (changed while read?)`);
    }
    if (chunk.length === 0) continue;
    w.raw(chunk);
    for (const c of w.take()) yield c;
  }
  if (seen !== size) {
    throw fail(w, path, `file has ${seen} bytes, not its declared ${size} (changed while read?)`);
  }
  w.pad(size);
  w.raw(CLOSE);
}

/** A regular file whose contents came whole from `bytes()`. */
function wholeRegular(
  w: ChunkWriter,
  node: Extract<NarNode, { type: "regular" }>,
  contents: unknown,
  path: string,
): void {
  const size = regularHead(w, node, path);
  if (!(contents instanceof Uint8Array)) throw fail(w, path, "bytes() returned a non-Uint8Array");
  if (contents.length > size) {
    throw fail(w, path, `file has more than its declared ${size} bytes (changed while read?)`);
  }
  if (contents.length < size) {
    throw fail(
      w,
      path,
      `file has ${contents.length} bytes, not its declared ${size} (changed while read?)`,
    );
  }
  w.raw(contents);
  w.pad(size);
  w.raw(CLOSE);
}

/** Checks the size and writes the file's opening; returns the size. */
function regularHead(
  w: ChunkWriter,
  node: Extract<NarNode, { type: "regular" }>,
  path: string,
): number {
  const size = node.size;
  if (!Number.isSafeInteger(size) || size < 0) {
    throw fail(w, path, `invalid file size ${String(size)}`);
  }
  w.raw(node.executable === true ? EXECUTABLE : REGULAR);
  w.u64(size);
  return size;
}

function symlink(w: ChunkWriter, target: unknown, path: string): void {
  if (typeof target !== "string" || target === "") {
    throw fail(w, path, "symlink target must be a non-empty string");
  }
  if (!target.isWellFormed()) throw fail(w, path, "symlink target is not valid Unicode");
  if (target.includes("\0")) throw fail(w, path, "symlink target contains NUL");
  w.raw(SYMLINK);
  w.string(utf8.encode(target));
  w.raw(CLOSE);
}

/** Checks one directory's names and sorts them (in place) into NAR order. */
function sortedNames(names: unknown, path: string, offset: number): string[] {
  if (!Array.isArray(names)) throw failAt(offset, path, "names() did not give an array");
  for (const name of names) {
    if (typeof name !== "string" || !name.isWellFormed()) {
      throw failAt(offset, path, `entry name ${JSON.stringify(String(name))} is not valid Unicode`);
    }
    const problem = nameProblemOf(name);
    if (problem !== undefined) throw failAt(offset, path, problem);
  }
  names.sort(compareUtf8);
  for (let i = 1; i < names.length; i++) {
    if (names[i - 1] === names[i]) {
      throw failAt(offset, path, `duplicate entry name ${showBytes(utf8.encode(names[i]))}`);
    }
  }
  return names;
}

function fail(w: ChunkWriter, path: string, what: string): NarError {
  return failAt(w.offset, path, what);
}

function failAt(offset: number, path: string, what: string): NarError {
  const where = path === "" ? "the root" : JSON.stringify(path);
  return new NarError(`Cannot encode NAR: at ${where}: ${what}`, offset);
}
