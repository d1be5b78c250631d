/**
 * Store path parsing: the name rules and hash part checks as a table of
 * rejects, round trips as properties, and real paths built by Nix.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { NIX32_ALPHABET } from "../lib/encoding/nix32.ts";
import {
  formatStorePath,
  HashPartMap,
  isValidHashPart,
  parseStorePath,
  parseStorePathBase,
  storePathBase,
  StorePathError,
} from "../lib/store_path/mod.ts";
import { buildPath, nixEnv, run } from "./_run.ts";

const enc = new TextEncoder();
const H = "149l973n7cyj6mxqljgs8vbbn7q2jm7s";

const arbHashPart = fc.array(fc.constantFrom(...NIX32_ALPHABET.split("")), {
  minLength: 32,
  maxLength: 32,
}).map((a) => a.join(""));
const NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._?=";
const arbName = fc.array(fc.constantFrom(...NAME_CHARS.split("")), { minLength: 1, maxLength: 211 })
  .map((a) => a.join(""))
  .filter((n) => n !== "." && n !== ".." && !n.startsWith(".-") && !n.startsWith("..-"));

Deno.test("store path: parse(format(p)) is p for valid parts, in any store dir", () => {
  fc.assert(
    fc.property(
      arbHashPart,
      arbName,
      fc.constantFrom("/nix/store", "/tmp/s"),
      (hashPart, name, dir) => {
        const p = { hashPart, name };
        assert.deepEqual(parseStorePath(formatStorePath(p, dir), dir), p);
        assert.deepEqual(parseStorePathBase(storePathBase(p)), p);
        assert.ok(isValidHashPart(hashPart));
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("store path: invalid paths are rejected, each for its own reason", () => {
  const cases: [string, RegExp][] = [
    [`/nix/store/${H}`, /too short/],
    [`/nix/store/${H}-`, /too short/],
    [`/nix/store/${H.slice(0, 31)}e-foo`, /hash part is not 32 nix32/],
    [`/nix/store/${H.toUpperCase()}-foo`, /hash part is not 32 nix32/],
    [`/nix/store/${H}_foo`, /no '-' after the hash part/],
    [`/nix/store/${H}-foo bar`, /illegal character " " in name/],
    [`/nix/store/${H}-fü`, /illegal character "ü"/],
    [`/nix/store/${H}-${"a".repeat(212)}`, /longer than 211/],
    [`/nix/store/${H}-.`, /name '.' is not allowed/],
    [`/nix/store/${H}-..`, /name '..' is not allowed/],
    [`/nix/store/${H}-.-x`, /name '.-x' is not allowed/],
    [`/nix/store/${H}-..-x`, /name '..-x' is not allowed/],
    [`/nix/store/${H}-foo/bin`, /not directly in/],
    [`/nix/store/${H}-foo/`, /not directly in/],
    [`/gnu/store/${H}-foo`, /not in the store directory/],
    [`${H}-foo`, /not in the store directory/],
    [`/nix/store//${H}-foo`, /not directly in/],
  ];
  for (const [s, re] of cases) {
    assert.throws(
      () => parseStorePath(s),
      (e: unknown) => e instanceof StorePathError && e instanceof SyntaxError && re.test(e.message),
      s,
    );
  }
  assert.deepEqual(parseStorePath(`/nix/store/${H}-${"a".repeat(211)}`).name.length, 211);
  assert.deepEqual(parseStorePath(`/nix/store/${H}-.a-b_c+d?e=f`).name, ".a-b_c+d?e=f");
});

Deno.test("store path: isValidHashPart", () => {
  assert.ok(isValidHashPart(H));
  for (
    const bad of ["", H.slice(1), H + "0", H.replace("1", "e"), H.replace("1", "A"), "/".repeat(32)]
  ) {
    assert.equal(isValidHashPart(bad), false, bad);
  }
});

Deno.test("store path: HashPartMap behaves as a Map, also when prefixes collide", () => {
  // Few keys under two shared six-character prefixes: chains, and keys that come back.
  const keys = ["000000", "zzzzzz"].flatMap((p) =>
    ["a", "b", "c", "d"].map((c) => p + c.repeat(25) + "1")
  );
  const key = fc.constantFrom(...keys);
  const op = fc.oneof(
    fc.tuple(fc.constant("set" as const), key, fc.nat()),
    fc.tuple(fc.constant("delete" as const), key, fc.constant(0)),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.array(key, { maxLength: 10 }), (ops, asks) => {
      const m = new HashPartMap<number>();
      const ref = new Map<string, number>();
      for (const [what, k, v] of ops) {
        if (what === "set") {
          m.set(k, v);
          ref.set(k, v);
        } else {
          assert.equal(m.delete(k), ref.delete(k));
        }
        assert.equal(m.size, ref.size);
      }
      for (const k of [...ref.keys(), ...asks]) {
        assert.equal(m.get(k), ref.get(k));
        // Found by the bytes inside a request target.
        assert.equal(m.getAt(enc.encode(`/${k}.narinfo`), 1), ref.get(k));
      }
    }),
    { numRuns: 500 },
  );
  const m = new HashPartMap<string>();
  m.set(H, "x");
  assert.equal(m.get(H.slice(0, 31)), undefined);
  assert.equal(m.getAt(enc.encode(`/${H}`), 2), undefined, "past the end");
  assert.equal(m.getAt(enc.encode(`/${H.slice(0, 31)}\u00e9`), 1), undefined, "not ASCII");
  assert.equal(m.get(H.slice(0, 31) + "e"), undefined, "a character outside nix32");
  assert.throws(() => m.set("abc", "y"), RangeError);
});

Deno.test("store path: parsers throw only StorePathError on arbitrary strings", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      for (const f of [parseStorePath, parseStorePathBase]) {
        try {
          f(s);
        } catch (e) {
          assert.ok(e instanceof StorePathError, String(e));
        }
      }
    }),
    { numRuns: 3000 },
  );
});

Deno.test("store path: paths Nix builds parse, and names Nix refuses are refused", async () => {
  const env = await nixEnv();
  const p = await buildPath("a.b-c_d+e?f=g", "echo x > $out", env);
  const sp = parseStorePath(p);
  assert.equal(sp.name, "a.b-c_d+e?f=g");
  assert.equal(formatStorePath(sp), p);
  // Nix 2.8 itself refuses an illegal name, as we do.
  const r = await run("nix-instantiate", ["--eval", "-E", 'builtins.toFile "a b" "x"'], { env });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /illegal character/);
  assert.throws(() => parseStorePathBase(`${H}-a b`), StorePathError);
});
