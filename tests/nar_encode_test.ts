/** The streaming NAR encoder against a reference encoder, plus its errors and chunking. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeNar, NarError, type NarNode } from "../lib/nar/mod.ts";
import { collect, dirNode, refNar, type Spec, specArb, specNode, wire } from "./_nar_fixtures.ts";

const file = (data: string, executable = false): Spec => ({
  type: "regular",
  executable,
  data: new TextEncoder().encode(data),
});

Deno.test("encodeNar writes the nix-archive-1 grammar for each node type", async () => {
  assert.deepEqual(
    await collect(encodeNar({ type: "symlink", target: "/etc" })),
    wire("nix-archive-1", "(", "type", "symlink", "target", "/etc", ")"),
  );
  assert.deepEqual(
    await collect(encodeNar(specNode(file("hello\n", true)))),
    wire("nix-archive-1", "(", "type", "regular", "executable", "", "contents", "hello\n", ")"),
  );
  assert.deepEqual(
    await collect(encodeNar(specNode({ type: "directory", entries: [] }))),
    wire("nix-archive-1", "(", "type", "directory", ")"),
  );
});

Deno.test("encodeNar sorts entries by UTF-8 bytes, not by locale or UTF-16", async () => {
  // "\u{1F600}" is a surrogate pair in UTF-16 (sorts before U+FFFD there) but 0xF0… in UTF-8.
  const names = ["a", "B", "_", "Z", "é", "\u{FFFD}", "\u{1F600}", "aa", "A"];
  const spec: Spec = { type: "directory", entries: names.map((n) => [n, file(n)]) };
  const bytes = await collect(encodeNar(specNode(spec)));
  assert.deepEqual(bytes, refNar(spec));
  const order = ["A", "B", "Z", "_", "a", "aa", "é", "\u{FFFD}", "\u{1F600}"];
  const text = new TextDecoder().decode(bytes);
  const positions = order.map((n) => text.indexOf(`${n}\0`));
  assert.deepEqual([...positions].sort((x, y) => x - y), positions);
});

Deno.test("encodeNar equals the reference encoder on random trees (property)", async () => {
  await fc.assert(
    fc.asyncProperty(
      specArb,
      fc.integer({ min: 1, max: 5000 }),
      fc.boolean(),
      fc.boolean(),
      async (s, p, l, w) => {
        assert.deepEqual(await collect(encodeNar(specNode(s, p, l, w))), refNar(s));
      },
    ),
    { numRuns: 200 },
  );
});

async function encodeError(node: NarNode): Promise<NarError> {
  const e = await collect(encodeNar(node)).then(() => undefined, (e) => e);
  assert.ok(e instanceof NarError, `expected a NarError, got ${e}`);
  return e;
}

function sized(size: number, actual: number): NarNode {
  return {
    type: "regular",
    executable: false,
    size,
    async *contents() {
      yield new Uint8Array(actual);
    },
  };
}

Deno.test("encodeNar rejects files whose contents do not match their size", async () => {
  const inDir = (node: NarNode): NarNode => dirNode([["f", node]]);
  let e = await encodeError(inDir(sized(10, 12)));
  assert.match(e.message, /^Cannot encode NAR: at "f": file has more than its declared 10 bytes/);
  e = await encodeError(sized(10, 4));
  assert.match(e.message, /at the root: file has 4 bytes, not its declared 10/);
  assert.equal(e.offset, 96 + 4, "the offset after the 4 bytes written");
  e = await encodeError(sized(-1, 0));
  assert.match(e.message, /invalid file size -1/);
  // The same from a file read whole (`bytes()`).
  const whole = (size: number, actual: number): NarNode => ({
    type: "regular",
    executable: false,
    size,
    contents: () => {
      throw new Error("not used when bytes() is there");
    },
    bytes: () => new Uint8Array(actual),
  });
  e = await encodeError(inDir(whole(10, 12)));
  assert.match(e.message, /^Cannot encode NAR: at "f": file has more than its declared 10 bytes/);
  e = await encodeError(whole(10, 4));
  assert.match(e.message, /at the root: file has 4 bytes, not its declared 10/);
});

Deno.test("encodeNar rejects duplicate and invalid names and bad symlinks", async () => {
  const dir = (...names: string[]): NarNode =>
    dirNode(names.map((name) => [name, { type: "symlink", target: "x" }]));
  const cases: [NarNode, RegExp][] = [
    [dir("a", "b", "a"), /at the root: duplicate entry name "a"/],
    [dir("."), /entry name "\." is not allowed/],
    [dir(".."), /entry name "\.\." is not allowed/],
    [dir(""), /empty entry name/],
    [dir("a/b"), /entry name "a\/b" contains "\/"/],
    [dir("a\0b"), /entry name "a\\u0000b" contains NUL/],
    [dir("\uD800"), /is not valid Unicode/],
    [{ type: "symlink", target: "" }, /symlink target must be a non-empty string/],
    [{ type: "symlink", target: "a\0" }, /symlink target contains NUL/],
    [{ type: "fifo" } as unknown as NarNode, /unknown node type "fifo"/],
  ];
  for (const [node, re] of cases) assert.match((await encodeError(node)).message, re);
});

Deno.test("encodeNar batches headers and passes big chunks through uncopied", async () => {
  const big = new Uint8Array(1 << 20).fill(7);
  const entries = Array.from({ length: 2000 }, (_, i): [string, NarNode] => [`f${i}`, sized(3, 3)]);
  entries.push(["zbig", {
    type: "regular",
    executable: false,
    size: big.length,
    async *contents() {
      yield big;
    },
  }]);
  const chunks: Uint8Array[] = [];
  for await (const c of encodeNar(dirNode(entries))) chunks.push(c);
  assert.ok(chunks.some((c) => c === big), "the 1 MiB chunk is passed on as is");
  const small = chunks.filter((c) => c !== big);
  // ~2000 * 136 bytes of headers in 64 KiB batches.
  assert.ok(small.length <= 8, `${small.length} header chunks`);
  assert.ok(small.slice(0, -2).every((c) => c.length > 32 * 1024));
});

Deno.test("encodeNar is pull-based: a slow reader stops the source", async () => {
  let produced = 0;
  const node: NarNode = {
    type: "regular",
    executable: false,
    size: 1 << 30,
    async *contents() {
      for (let i = 0; i < 1024; i++) {
        produced++;
        yield new Uint8Array(1 << 20);
      }
    },
  };
  const reader = encodeNar(node).getReader();
  await reader.read();
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(produced < 16, `produced ${produced} MiB ahead of a reader that took one chunk`);
  await reader.cancel();
});
