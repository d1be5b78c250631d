/**
 * Test helpers for the NAR tests: a tiny independent reference encoder over
 * plain tree specs, a builder for hand-made (possibly malformed) NAR bytes,
 * fast-check arbitraries for random trees, and stream collectors.
 */
import fc from "fast-check";
import type { NarEvent, NarNode } from "../lib/nar/mod.ts";

/** A file tree as plain data. Directory entries are unsorted and unique. */
export type Spec =
  | { type: "regular"; executable: boolean; data: Uint8Array }
  | { type: "symlink"; target: string }
  | { type: "directory"; entries: [string, Spec][] };

const utf8 = new TextEncoder();

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A u64 little-endian. */
export function u64(n: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

/** A NAR string: length, bytes, zero padding (or `pad` as the padding bytes). */
export function str(s: string | Uint8Array, pad?: number[]): Uint8Array {
  const b = typeof s === "string" ? utf8.encode(s) : s;
  const p = pad ?? new Array((8 - (b.length % 8)) % 8).fill(0);
  return concat([u64(b.length), b, new Uint8Array(p)]);
}

/** Wire bytes from strings (as NAR strings) and raw byte arrays (as is). */
export function wire(...parts: (string | Uint8Array)[]): Uint8Array {
  return concat(parts.map((p) => typeof p === "string" ? str(p) : p));
}

function cmp(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function sorted(entries: [string, Spec][]): [string, Spec][] {
  return [...entries].sort((x, y) => cmp(utf8.encode(x[0]), utf8.encode(y[0])));
}

/** Reference encoder: the NAR grammar written out recursively, all in memory. */
export function refNar(spec: Spec): Uint8Array {
  const node = (s: Spec): Uint8Array[] => {
    if (s.type === "regular") {
      return [
        wire("(", "type", "regular", ...(s.executable ? ["executable", ""] : []), "contents"),
        str(s.data),
        wire(")"),
      ];
    }
    if (s.type === "symlink") return [wire("(", "type", "symlink", "target", s.target, ")")];
    const out = [wire("(", "type", "directory")];
    for (const [name, child] of sorted(s.entries)) {
      out.push(wire("entry", "(", "name", name, "node"), ...node(child), wire(")"));
    }
    out.push(wire(")"));
    return out;
  };
  return concat([wire("nix-archive-1"), ...node(spec)]);
}

/** The events `parseNar` should emit for a spec (contents merged per file). */
export function refEvents(spec: Spec, path = ""): NarEvent[] {
  if (spec.type === "regular") {
    return [
      { type: "regular", path, executable: spec.executable, size: spec.data.length },
      ...(spec.data.length ? [{ type: "contents" as const, path, data: spec.data }] : []),
      { type: "regular-end", path },
    ];
  }
  if (spec.type === "symlink") return [{ type: "symlink", path, target: spec.target }];
  const out: NarEvent[] = [{ type: "directory", path }];
  for (const [name, child] of sorted(spec.entries)) {
    out.push(...refEvents(child, path === "" ? name : `${path}/${name}`));
  }
  out.push({ type: "directory-end", path });
  return out;
}

/** Merges consecutive contents events of one file (their split depends on chunking). */
export function mergeContents(events: NarEvent[]): NarEvent[] {
  const out: NarEvent[] = [];
  for (const e of events) {
    const last = out.at(-1);
    if (e.type === "contents" && last?.type === "contents" && last.path === e.path) {
      out[out.length - 1] = { ...last, data: concat([last.data, e.data]) };
    } else {
      out.push(e.type === "contents" ? { ...e, data: e.data.slice() } : e);
    }
  }
  return out;
}

/** An in-memory NarNode for a spec; file data is yielded in pieces of `piece` bytes. */
export function specNode(spec: Spec, piece = 7, lazy = false, whole = false): NarNode {
  if (spec.type === "regular") {
    const data = spec.data;
    return {
      type: "regular",
      executable: spec.executable,
      size: data.length,
      async *contents() {
        for (let i = 0; i < data.length; i += piece) yield data.slice(i, i + piece);
      },
      bytes: whole ? () => data.slice() : undefined,
    };
  }
  if (spec.type === "symlink") return { type: "symlink", target: spec.target };
  const children = new Map(spec.entries);
  const names = () => spec.entries.map(([name]) => name);
  return {
    type: "directory",
    // Lazy trees also list names and make children asynchronously, as a walker may.
    names: lazy ? () => Promise.resolve(names()) : names,
    child: (name) => {
      const node = specNode(children.get(name)!, piece, lazy, whole);
      return lazy ? Promise.resolve(node) : node;
    },
  };
}

/** A directory node of the given entries (names may repeat, to test refusals). */
export function dirNode(entries: [string, NarNode][]): NarNode {
  return {
    type: "directory",
    names: () => entries.map(([name]) => name),
    child: (name) => entries.find(([n]) => n === name)![1],
  };
}

/** Reads a byte stream to the end. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  return concat(parts);
}

/** Feeds `bytes` to a transform in the given pieces and collects its output. */
export async function feed<T>(
  bytes: Uint8Array,
  cuts: number[],
  transform: TransformStream<Uint8Array, T>,
): Promise<T[]> {
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    if (c > at && c < bytes.length) {
      pieces.push(bytes.slice(at, c));
      at = c;
    }
  }
  pieces.push(bytes.slice(at));
  const out: T[] = [];
  await ReadableStream.from(pieces).pipeThrough(transform).pipeTo(
    new WritableStream({ write: (e) => void out.push(e) }),
  );
  return out;
}

const nameArb = fc.string({ unit: "binary", minLength: 1, maxLength: 12 }).filter((s) =>
  s !== "." && s !== ".." && !s.includes("/") && !s.includes("\0") &&
  utf8.encode(s).length <= 255
);

/** Random trees: unicode names, empty and small files, executables, symlinks, nesting. */
export const specArb: fc.Arbitrary<Spec> = fc.letrec<{ node: Spec }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({
      type: fc.constant("regular" as const),
      executable: fc.boolean(),
      data: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 3000 })),
    }),
    fc.record({
      type: fc.constant("symlink" as const),
      target: fc.string({ unit: "binary", minLength: 1, maxLength: 30 }).filter((s) =>
        !s.includes("\0")
      ),
    }),
    fc.record({
      type: fc.constant("directory" as const),
      entries: fc.uniqueArray(fc.tuple(nameArb, tie("node")), {
        maxLength: 6,
        selector: (e) => e[0],
      }),
    }),
  ),
})).node;
