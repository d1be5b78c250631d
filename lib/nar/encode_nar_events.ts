/**
 * Re-encodes a `NarEvent` stream (as `parseNar` emits it) into NAR bytes, so
 * `parseNar` then `encodeNarEvents` is the identity on valid NARs. The event
 * order, names, sort order and file sizes are checked as they go by.
 */
import type { NarEvent } from "./nar_event.ts";
import { NarError } from "./nar_error.ts";
import { compareBytes, nameProblem, showBytes } from "./_names.ts";
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

const utf8 = new TextEncoder();

interface Frame {
  path: string;
  prev: Uint8Array | undefined;
}

/**
 * @example
 * ```ts
 * import { encodeNar } from "./encode_nar.ts";
 * import { parseNar } from "./parse_nar.ts";
 * const again = encodeNar({ type: "symlink", target: "x" })
 *   .pipeThrough(parseNar()).pipeThrough(encodeNarEvents());
 * if ((await new Response(again).arrayBuffer()).byteLength !== 120) throw new Error();
 * ```
 */
export function encodeNarEvents(): TransformStream<NarEvent, Uint8Array> {
  const w = new ChunkWriter();
  const stack: Frame[] = [];
  let state: "root" | "dir" | "file" | "done" = "root";
  let file = { path: "", size: 0, left: 0 };

  const fail = (what: string) =>
    new NarError(`Cannot encode NAR events at byte ${w.offset}: ${what}`, w.offset);

  /** Writes the entry header for a node event and checks its place. */
  function begin(event: NarEvent): void {
    if (state === "root") {
      if (event.path !== "") throw fail(`the root node has path ${JSON.stringify(event.path)}`);
      w.raw(MAGIC);
      return;
    }
    if (state !== "dir") throw fail(`unexpected ${event.type} event for ${show(event.path)}`);
    const top = stack[stack.length - 1];
    const prefix = top.path === "" ? "" : `${top.path}/`;
    if (typeof event.path !== "string" || !event.path.startsWith(prefix)) {
      throw fail(`${show(event.path)} is not inside directory ${show(top.path)}`);
    }
    const name = event.path.slice(prefix.length);
    if (!name.isWellFormed()) throw fail(`entry name ${show(name)} is not valid Unicode`);
    const bytes = utf8.encode(name);
    const problem = nameProblem(bytes);
    if (problem !== undefined) throw fail(problem);
    if (top.prev !== undefined && compareBytes(top.prev, bytes) >= 0) {
      throw fail(`entry ${showBytes(bytes)} does not sort after ${showBytes(top.prev)}`);
    }
    top.prev = bytes;
    w.raw(ENTRY);
    w.string(bytes);
    w.raw(NODE);
  }

  /** After a node ends: close its entry, or finish the NAR at the root. */
  function closed(): void {
    if (stack.length > 0) {
      w.raw(CLOSE);
      state = "dir";
    } else {
      state = "done";
    }
  }

  function apply(event: NarEvent): void {
    switch (event?.type) {
      case "directory":
        begin(event);
        w.raw(DIRECTORY);
        stack.push({ path: event.path, prev: undefined });
        state = "dir";
        return;
      case "regular": {
        const size = event.size;
        if (!Number.isSafeInteger(size) || size < 0) throw fail(`invalid file size ${size}`);
        begin(event);
        w.raw(event.executable === true ? EXECUTABLE : REGULAR);
        w.u64(size);
        file = { path: event.path, size, left: size };
        state = "file";
        return;
      }
      case "contents":
        if (state !== "file" || event.path !== file.path) {
          throw fail(`unexpected contents event for ${show(event.path)}`);
        }
        if (!(event.data instanceof Uint8Array) || event.data.length > file.left) {
          throw fail(`contents of ${show(file.path)} exceed its size ${file.size}`);
        }
        file.left -= event.data.length;
        w.raw(event.data);
        return;
      case "regular-end":
        if (state !== "file" || event.path !== file.path) {
          throw fail(`unexpected regular-end event for ${show(event.path)}`);
        }
        if (file.left !== 0) {
          throw fail(`${show(file.path)} ended ${file.left} bytes short of its size ${file.size}`);
        }
        w.pad(file.size);
        w.raw(CLOSE);
        closed();
        return;
      case "symlink": {
        const target = event.target;
        if (typeof target !== "string" || target === "" || target.includes("\0")) {
          throw fail(`invalid symlink target ${JSON.stringify(String(target))}`);
        }
        if (!target.isWellFormed()) throw fail("symlink target is not valid Unicode");
        begin(event);
        w.raw(SYMLINK);
        w.string(utf8.encode(target));
        w.raw(CLOSE);
        closed();
        return;
      }
      case "directory-end": {
        const top = stack[stack.length - 1];
        if (state !== "dir" || top.path !== event.path) {
          throw fail(`unexpected directory-end event for ${show(event.path)}`);
        }
        stack.pop();
        w.raw(CLOSE);
        closed();
        return;
      }
      default:
        throw fail(`unknown event ${JSON.stringify(String((event as { type?: unknown })?.type))}`);
    }
  }

  return new TransformStream<NarEvent, Uint8Array>({
    transform(event, controller) {
      if (state === "done") throw fail("event after the end of the NAR");
      apply(event);
      for (const c of w.take()) controller.enqueue(c);
    },
    flush(controller) {
      if (state !== "done") throw fail("the event stream ended before the NAR was complete");
      w.flush();
      for (const c of w.take()) controller.enqueue(c);
    },
  });
}

function show(path: unknown): string {
  return JSON.stringify(String(path));
}
