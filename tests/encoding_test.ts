/**
 * nix32 and base64: round trips over random bytes, agreement with an
 * independent encoder (node's Buffer for base64), and rejection of every
 * malformed input with a SyntaxError that says where.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import {
  decodeBase64,
  decodeHex,
  decodeNix32,
  encodeBase64,
  encodeHex,
  encodeNix32,
  NIX32_ALPHABET,
  nix32Length,
} from "../lib/encoding/mod.ts";

Deno.test("nix32: decode(encode(x)) is x for any bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      const s = encodeNix32(bytes);
      assert.equal(s.length, nix32Length(bytes.length));
      assert.deepEqual(decodeNix32(s), bytes);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("nix32: encode(decode(s)) is s for any well-formed string", () => {
  // 32 chars = 160 bits exactly (store path hash parts), so every string is valid.
  const digit = fc.constantFrom(...NIX32_ALPHABET.split(""));
  fc.assert(
    fc.property(fc.array(digit, { minLength: 32, maxLength: 32 }), (ds) => {
      const s = ds.join("");
      assert.equal(encodeNix32(decodeNix32(s)), s);
    }),
  );
});

Deno.test("nix32: the last character holds the lowest 5 bits of the first byte", () => {
  // Nix's bit order: character n from the end = bits 5n..5n+4, little-endian.
  const b = new Uint8Array(20);
  b[0] = 0b00011;
  assert.equal(encodeNix32(b), "0".repeat(31) + "3");
  b[0] = 0b100000; // bit 5 -> second character from the end
  assert.equal(encodeNix32(b), "0".repeat(30) + "10");
  const top = new Uint8Array(20);
  top[19] = 0x80; // bit 159 -> first character, value 16 = 'h'
  assert.equal(encodeNix32(top), NIX32_ALPHABET[16] + "0".repeat(31));
});

Deno.test("nix32: malformed strings are rejected with position and reason", () => {
  const cases: [string, RegExp][] = [
    ["0".repeat(31) + "e", /unexpected character 'e' at position 31/],
    ["u" + "0".repeat(31), /unexpected character 'u' at position 0/],
    ["0".repeat(10) + "T" + "0".repeat(21), /'T' at position 10/],
    ["0".repeat(10) + "é" + "0".repeat(21), /'é' at position 10/],
    ["0", /length 1 does not encode/],
    ["0".repeat(33), /length 33 does not encode/],
    // 52 chars carry 260 bits for a 256-bit sha256: the top 4 bits must be zero
    // (so the first character is at most '1', which is bit 255).
    ["2" + "0".repeat(51), /nonzero bits past the end at position 0/],
    ["z" + "0".repeat(51), /nonzero bits past the end/],
  ];
  for (const [s, re] of cases) {
    assert.throws(
      () => decodeNix32(s),
      (e: unknown) => e instanceof SyntaxError && re.test(e.message),
      s,
    );
  }
  assert.deepEqual(decodeNix32(""), new Uint8Array(0));
});

Deno.test("base64: agrees with node's Buffer and round-trips", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const s = encodeBase64(bytes);
      assert.equal(s, Buffer.from(bytes).toString("base64"));
      assert.deepEqual(decodeBase64(s), bytes);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("base64: malformed strings are rejected", () => {
  const cases: [string, RegExp][] = [
    ["abc", /length 3 is not a multiple of 4/],
    ["ab=c", /unexpected character '=' at position 2/],
    ["a===", /unexpected character '=' at position 1/],
    ["====", /unexpected character '=' at position 0/],
    ["ab-_", /unexpected character '-' at position 2/],
    ["ab c", /unexpected character ' ' at position 2/],
    ["abcd\n", /length 5/],
    ["AB==", /nonzero padding bits/], // 'B' leaves a stray bit
    ["AAB=", /nonzero padding bits/],
  ];
  for (const [s, re] of cases) {
    assert.throws(
      () => decodeBase64(s),
      (e: unknown) => e instanceof SyntaxError && re.test(e.message),
      s,
    );
  }
});

Deno.test("decoders throw only SyntaxError on arbitrary strings", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (s) => {
      for (const f of [decodeNix32, decodeBase64]) {
        try {
          f(s);
        } catch (e) {
          assert.ok(e instanceof SyntaxError, String(e));
        }
      }
    }),
    { numRuns: 3000 },
  );
});

Deno.test("hex: agrees with node's Buffer and round-trips, long inputs too", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 10_000 }), (bytes) => {
      const hex = encodeHex(bytes);
      assert.equal(hex, Buffer.from(bytes).toString("hex"));
      assert.deepEqual(decodeHex(hex), bytes);
      assert.deepEqual(decodeHex(hex.toUpperCase()), bytes);
    }),
    { numRuns: 200 },
  );
  assert.throws(() => decodeHex("abc"), /odd length 3/);
  assert.throws(() => decodeHex("0g"), /unexpected character 'g' at position 1/);
});
