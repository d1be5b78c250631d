/** Malformed NARs: each is rejected with its own NarError message and offset; fuzzing never hangs. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeNarEvents, NarError, parseNar } from "../lib/nar/mod.ts";
import { collect, concat, feed, refNar, specArb, str, u64, wire } from "./_nar_fixtures.ts";

const MAGIC = wire("nix-archive-1");
const DIR = wire("nix-archive-1", "(", "type", "directory");
const ENTRY = wire("entry", "(", "name");
const TAIL = wire("node", "(", "type", "symlink", "target", "t", ")", ")");
const REG = wire("nix-archive-1", "(", "type", "regular", "contents");

/** A directory NAR with symlink entries named by raw name strings (already wire-encoded). */
function dirWith(...names: Uint8Array[]): Uint8Array {
  const parts = [DIR];
  for (const n of names) {
    parts.push(ENTRY, n, TAIL);
  }
  return concat([...parts, wire(")")]);
}

/** Offset of the `i`th entry's name string in `dirWith` output. */
function nameAt(i: number, names: Uint8Array[]): number {
  let at = DIR.length;
  for (let k = 0; k < i; k++) at += ENTRY.length + names[k].length + TAIL.length;
  return at + ENTRY.length;
}

interface Case {
  name: string;
  bytes: Uint8Array;
  message: RegExp;
  offset: number;
}

function nameCase(name: string, raw: Uint8Array, message: RegExp): Case {
  const names = [str("a"), str(raw)];
  return { name, bytes: dirWith(...names), message, offset: nameAt(1, names) };
}

const symlinkNar = wire("nix-archive-1", "(", "type", "symlink", "target", "/x", ")");
const big = 2n ** 60n;

const CASES: Case[] = [
  {
    name: "bad magic",
    bytes: wire("nix-archive-2", "(", "type", "symlink", "target", "x", ")"),
    message: /bad magic: not a NAR \(expected "nix-archive-1"\)/,
    offset: 0,
  },
  {
    name: "empty input",
    bytes: new Uint8Array(0),
    message: /truncated: input ended while reading the NAR magic/,
    offset: 0,
  },
  {
    name: "wrong token",
    bytes: wire("nix-archive-1", "(", "tipe", "symlink"),
    message: /expected "type", found "tipe"/,
    offset: 40,
  },
  {
    name: "unknown node type",
    bytes: wire("nix-archive-1", "(", "type", "fifo", ")"),
    message: /expected "regular" or "symlink" or "directory", found "fifo"/,
    offset: 56,
  },
  {
    name: "unsorted entries",
    bytes: dirWith(str("c"), str("b")),
    message: /entries not sorted \("b" after "c"\)/,
    offset: nameAt(1, [str("c"), str("b")]),
  },
  {
    name: "duplicate entries",
    bytes: dirWith(str("a"), str("a")),
    message: /duplicate entry "a"/,
    offset: nameAt(1, [str("a"), str("a")]),
  },
  nameCase("name .", new TextEncoder().encode("."), /entry name "\." is not allowed/),
  nameCase("name ..", new TextEncoder().encode(".."), /entry name "\.\." is not allowed/),
  nameCase("name with /", new TextEncoder().encode("b/c"), /entry name "b\/c" contains "\/"/),
  nameCase("name with NUL", new Uint8Array([98, 0, 99]), /entry name "b\\u0000c" contains NUL/),
  nameCase("name not UTF-8", new Uint8Array([98, 0xff]), /entry name "b\uFFFD" is not valid UTF-8/),
  {
    name: "empty name",
    bytes: dirWith(str("")),
    message: /empty entry name/,
    offset: nameAt(0, [str("")]),
  },
  {
    name: "name too long",
    bytes: dirWith(str("n".repeat(256))),
    message: /an entry name has length 256, more than the maximum 255/,
    offset: nameAt(0, [str("")]),
  },
  {
    name: "absurd name length",
    bytes: concat([DIR, ENTRY, u64(big), new Uint8Array(64)]),
    message: /the length of an entry name is 1152921504606846976, too large/,
    offset: DIR.length + ENTRY.length,
  },
  {
    name: "absurd token length",
    bytes: concat([MAGIC, u64(big)]),
    message: /the length of token "\(" is 1152921504606846976, too large/,
    offset: 24,
  },
  {
    name: "over-long token",
    bytes: concat([MAGIC, str("(".repeat(40))]),
    message: /expected "\(", found a string of length 40/,
    offset: 24,
  },
  {
    name: "absurd file size",
    bytes: concat([REG, u64(big), new Uint8Array(64)]),
    message: /the file size is 1152921504606846976, too large/,
    offset: REG.length,
  },
  {
    name: "file size beyond 2^53",
    bytes: concat([REG, u64(2n ** 53n), new Uint8Array(64)]),
    message: /the file size is 9007199254740992, too large/,
    offset: REG.length,
  },
  {
    name: "nonzero padding in a string",
    bytes: wire("nix-archive-1", "(", "type", "symlink", "target", str("ab", [0, 0, 0, 9, 0, 0])),
    message: /nonzero padding byte after the symlink target/,
    offset: 88 + 8 + 2 + 3,
  },
  {
    name: "nonzero padding after contents",
    bytes: concat([REG, str("abc", [0, 0, 1, 0, 0]), wire(")")]),
    message: /nonzero padding byte after file contents/,
    offset: REG.length + 8 + 3 + 2,
  },
  {
    name: "truncated in a header",
    bytes: symlinkNar.slice(0, 50),
    message: /truncated: input ended while reading token "type"/,
    offset: 50,
  },
  {
    name: "truncated in a length",
    bytes: symlinkNar.slice(0, 44),
    message: /truncated: input ended while reading the length of token "type"/,
    offset: 44,
  },
  {
    name: "truncated in contents",
    bytes: concat([REG, u64(100), new Uint8Array(50)]),
    message: /truncated: input ended while reading file contents/,
    offset: REG.length + 58,
  },
  {
    name: "truncated in padding",
    bytes: concat([REG, u64(3), new Uint8Array(3 + 2)]),
    message: /truncated: input ended while reading the padding of file contents/,
    offset: REG.length + 13,
  },
  {
    name: "missing final )",
    bytes: symlinkNar.slice(0, -16),
    message: /truncated: input ended while reading the length of token "\)"/,
    offset: symlinkNar.length - 16,
  },
  {
    name: "missing ) after an entry",
    bytes: concat([DIR, ENTRY, wire("a", "node", "(", "type", "symlink", "target", "t", ")")]),
    message: /truncated: input ended while reading the length of token "\)"/,
    offset: DIR.length + ENTRY.length + 16 + 16 + 16 * 5 + 16,
  },
  {
    name: "entry in place of )",
    bytes: concat([
      DIR,
      ENTRY,
      wire("a", "node", "(", "type", "symlink", "target", "t", ")", "entry"),
    ]),
    message: /expected "\)", found "entry"/,
    offset: DIR.length + ENTRY.length + 16 + 16 + 16 * 5 + 16,
  },
  {
    name: "trailing garbage",
    bytes: concat([symlinkNar, new Uint8Array([0])]),
    message: /trailing data after the NAR/,
    offset: symlinkNar.length,
  },
  {
    name: "empty symlink target",
    bytes: wire("nix-archive-1", "(", "type", "symlink", "target", "", ")"),
    message: /empty symlink target/,
    offset: 88,
  },
  {
    name: "symlink target with NUL",
    bytes: wire("nix-archive-1", "(", "type", "symlink", "target", "a\0b", ")"),
    message: /symlink target "a\\u0000b" contains NUL/,
    offset: 88,
  },
  {
    name: "bad executable marker",
    bytes: wire("nix-archive-1", "(", "type", "regular", "executable", "x", "contents"),
    message: /executable marker must be the empty string, found length 1/,
    offset: 96,
  },
  {
    name: "executable after contents",
    bytes: concat([REG, u64(0), wire("executable", "", ")")]),
    message: /expected "\)", found "executable"/,
    offset: REG.length + 8,
  },
];

Deno.test("at least 15 malformed NARs, each with its own message and offset", async (t) => {
  assert.ok(CASES.length >= 15);
  const messages = new Set<string>();
  for (const c of CASES) {
    await t.step(c.name, async () => {
      for (const cuts of [[], Array.from({ length: c.bytes.length }, (_, i) => i)]) {
        const err = await feed(c.bytes, cuts, parseNar()).then(() => undefined, (e) => e);
        assert.ok(err instanceof NarError, `${c.name}: expected a NarError, got ${err}`);
        assert.match(err.message, c.message);
        assert.match(err.message, new RegExp(`^Invalid NAR at byte ${err.offset}: `));
        if (c.offset >= 0) assert.equal(err.offset, c.offset, err.message);
        messages.add(err.message.replace(/^Invalid NAR at byte \d+: /, ""));
      }
    });
  }
  assert.ok(messages.size >= 15, `${messages.size} distinct messages`);
});

/** Parses; returns the bytes re-encoded, or the NarError. Anything else fails the property. */
async function tryParse(bytes: Uint8Array, cuts: number[]): Promise<Uint8Array | NarError> {
  try {
    const events = await feed(bytes, cuts, parseNar());
    return await collect(ReadableStream.from(events).pipeThrough(encodeNarEvents()));
  } catch (e) {
    if (e instanceof NarError) return e;
    throw e;
  }
}

Deno.test("random bytes are rejected with NarError, never anything else", async () => {
  const withMagic = fc.uint8Array({ maxLength: 300 }).map((b) => concat([MAGIC, b]));
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.uint8Array({ maxLength: 300 }), withMagic),
      fc.array(fc.nat({ max: 400 }), { maxLength: 5 }),
      async (bytes, cuts) => {
        const r = await tryParse(bytes, cuts);
        assert.ok(r instanceof NarError || r.length === bytes.length);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("mutated valid NARs: NarError, or accepted and canonical", async () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("set"), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("cut"), at: fc.nat(), byte: fc.constant(0) }),
    fc.record({
      kind: fc.constant("insert"),
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ kind: fc.constant("delete"), at: fc.nat(), byte: fc.constant(0) }),
  );
  await fc.assert(
    fc.asyncProperty(
      specArb,
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat({ max: 5000 }), { maxLength: 5 }),
      async (spec, mutations, cuts) => {
        let bytes = refNar(spec);
        for (const m of mutations) {
          const at = m.at % (bytes.length + 1);
          if (m.kind === "set" && at < bytes.length) {
            bytes = bytes.slice();
            bytes[at] = m.byte;
          } else if (m.kind === "cut") bytes = bytes.slice(0, at);
          else if (m.kind === "insert") {
            bytes = concat([bytes.slice(0, at), new Uint8Array([m.byte]), bytes.slice(at)]);
          } else bytes = concat([bytes.slice(0, at), bytes.slice(at + 1)]);
        }
        const r = await tryParse(bytes, cuts);
        // The parser takes only what `nix-store --dump` writes, so anything it accepts re-encodes
        // to the same bytes.
        if (!(r instanceof NarError)) assert.deepEqual(r, bytes);
      },
    ),
    { numRuns: 400 },
  );
});
