import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeManifest, encodeManifest, type Manifest } from "../lib/store/manifest.ts";

const PACKS = ["0".repeat(32), "a".repeat(32), "0123456789abcdef0123456789abcdef"];

const manifestArb: fc.Arbitrary<Manifest> = fc.record({
  compression: fc.constantFrom("none" as const, "zstd" as const, "xz" as const),
  chunks: fc.array(
    fc.record({
      id: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      pack: fc.constantFrom(...PACKS),
      offset: fc.maxSafeNat(),
      clen: fc.nat({ max: 0xffffffff }),
      ulen: fc.nat({ max: 0xffffffff }),
      crc: fc.nat({ max: 0xffffffff }),
    }, { noNullPrototype: true }),
    { maxLength: 300 }, // past the builder's first growth (64 entries)
  ),
}, { noNullPrototype: true });

Deno.test("manifest: decode(encode(m)) is m", () => {
  fc.assert(fc.property(manifestArb, (m) => {
    assert.deepEqual(decodeManifest(encodeManifest(m)), m);
  }));
});

Deno.test("manifest: the byte layout caches on disk already use", () => {
  const id = new Uint8Array(32).map((_, i) => i);
  const bytes = encodeManifest({
    compression: "zstd",
    chunks: [
      { id, pack: "p1", offset: 2 ** 32 + 5, clen: 7, ulen: 9, crc: 0xfffffffe },
      { id, pack: "p2", offset: 0, clen: 1, ulen: 2, crc: 3 },
      { id, pack: "p1", offset: 1, clen: 1, ulen: 1, crc: 1 },
    ],
  });
  const head = [
    ..."ARCAMAN1".split("").map((c) => c.charCodeAt(0)),
    1, // zstd
    2,
    0,
    0,
    0, // packs
    3,
    0,
    0,
    0, // chunks
    2,
    0x70,
    0x31, // "p1"
    2,
    0x70,
    0x32, // "p2"
  ];
  assert.deepEqual([...bytes.subarray(0, head.length)], head);
  const e0 = bytes.subarray(head.length, head.length + 56);
  assert.deepEqual([...e0.subarray(0, 32)], [...id]);
  assert.deepEqual(
    [...e0.subarray(32)],
    [0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff],
  );
  // The third chunk names the first pack again: index 0, not a new entry.
  assert.equal(bytes.length, head.length + 3 * 56);
  assert.equal(bytes[head.length + 2 * 56 + 32], 0);
  assert.equal(bytes[head.length + 56 + 32], 1);
});

Deno.test("manifest: damage is named", () => {
  const bytes = encodeManifest({
    compression: "xz",
    chunks: [{ id: new Uint8Array(32), pack: "p", offset: 0, clen: 1, ulen: 1, crc: 0 }],
  });
  assert.throws(
    () => decodeManifest(bytes.subarray(0, bytes.length - 1)),
    /size \d+ does not match 1 chunks/,
  );
  assert.throws(() => decodeManifest(new Uint8Array(20)), /bad magic/);
  const badMethod = bytes.slice();
  badMethod[8] = 9;
  assert.throws(() => decodeManifest(badMethod), /unknown compression 9/);
});
