/**
 * Hash parsing and printing: every spelling of one digest parses to the
 * same hash, malformed hashes are rejected clearly, and the forms agree with
 * real Nix (`nix hash to-base32/to-base16/to-sri`, `nix-store -q --hash`).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { encodeHex } from "../lib/encoding/hex.ts";
import { formatHash, type Hash, type HashAlgo, hashEquals, parseHash } from "../lib/hash/mod.ts";
import { buildPath, nixEnv, run, runOk } from "./_run.ts";

const SIZES: Record<HashAlgo, number> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };
const arbHash = fc.constantFrom<HashAlgo>("md5", "sha1", "sha256", "sha512").chain((algo) =>
  fc.uint8Array({ minLength: SIZES[algo], maxLength: SIZES[algo] }).map((digest): Hash => ({
    algo,
    digest,
  }))
);

Deno.test("hash: all four forms of one hash parse back equal", () => {
  fc.assert(
    fc.property(arbHash, (h) => {
      for (const form of ["nix32", "base16", "base64", "sri"] as const) {
        const s = formatHash(h, form);
        assert.ok(hashEquals(parseHash(s), h), s);
        assert.ok(hashEquals(parseHash(s, h.algo), h), s);
      }
      // A bare digest needs the algorithm from the caller.
      const bare = formatHash(h).slice(h.algo.length + 1);
      assert.ok(hashEquals(parseHash(bare, h.algo), h));
    }),
    { numRuns: 500 },
  );
});

Deno.test("hash: base16 accepts upper case, output is lower case", () => {
  const h = parseHash("sha1:" + "AB".repeat(20));
  assert.equal(formatHash(h, "base16"), "sha1:" + "ab".repeat(20));
});

Deno.test("hash: hashEquals compares algorithm and bytes", () => {
  const a: Hash = { algo: "sha256", digest: new Uint8Array(32) };
  assert.ok(hashEquals(a, { algo: "sha256", digest: new Uint8Array(32) }));
  assert.ok(!hashEquals(a, { algo: "sha256", digest: new Uint8Array(32).fill(1) }));
  assert.ok(
    !hashEquals({ algo: "md5", digest: new Uint8Array(16) }, {
      algo: "sha1",
      digest: new Uint8Array(16),
    }),
  );
});

Deno.test("hash: malformed hashes are rejected with a specific message", () => {
  const z52 = "0".repeat(52);
  const cases: [string, HashAlgo | undefined, RegExp][] = [
    [z52, undefined, /missing algorithm prefix/],
    ["sha257:" + z52, undefined, /unknown algorithm 'sha257'/],
    ["sha256:" + "0".repeat(51), undefined, /not 51/],
    ["sha256:", undefined, /not 0/],
    ["sha256:" + "0".repeat(51) + "e", undefined, /unexpected character 'e'/],
    ["sha256:" + "g".repeat(64), undefined, /unexpected character 'g'/],
    ["sha256-" + "A".repeat(43), undefined, /SRI digest must be 44 base64/],
    ["sha256-" + z52, undefined, /SRI digest must be 44/],
    ["sha1:" + z52, undefined, /a sha1 digest has 32 \(nix32\), 40 \(base16\) or 28 \(base64\)/],
    ["sha256:" + z52, "sha512", /expected a sha512 hash, got sha256/],
    ["sha256:2" + "0".repeat(51), undefined, /nonzero bits/],
  ];
  for (const [s, algo, re] of cases) {
    assert.throws(
      () => parseHash(s, algo),
      (e: unknown) => e instanceof SyntaxError && re.test(e.message),
      s,
    );
  }
});

Deno.test("hash: parseHash throws only SyntaxError on arbitrary strings", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 100 }), (s) => {
      try {
        parseHash(s);
      } catch (e) {
        assert.ok(e instanceof SyntaxError);
      }
    }),
    { numRuns: 3000 },
  );
});

Deno.test("hash: forms agree with `nix hash to-base32/to-base16/to-sri` on random digests", async () => {
  const env = await nixEnv();
  const hashes: Hash[] = [];
  for (const algo of ["md5", "sha1", "sha256", "sha512"] as const) {
    for (let i = 0; i < 8; i++) {
      hashes.push({ algo, digest: new Uint8Array(randomBytes(SIZES[algo])) });
    }
  }
  const inputs = hashes.map((h) => formatHash(h, "base16"));
  const b32 = (await runOk("nix", ["hash", "to-base32", ...inputs], { env })).trim().split("\n");
  const sri = (await runOk("nix", ["hash", "to-sri", ...inputs], { env })).trim().split("\n");
  // Feed Nix our nix32 and SRI spellings back: it must decode them to the same base16.
  const fromOurs = [
    ...hashes.map((h) => formatHash(h, "nix32")),
    ...hashes.map((h) => formatHash(h, "sri")),
  ];
  const b16 = (await runOk("nix", ["hash", "to-base16", ...fromOurs], { env })).trim().split("\n");
  hashes.forEach((h, i) => {
    // Nix prints bare digests for to-base32/to-base16 and `algo-...` for SRI.
    assert.equal(b32[i], formatHash(h, "nix32").slice(h.algo.length + 1), inputs[i]);
    assert.equal(sri[i], formatHash(h, "sri"), inputs[i]);
    assert.equal(b16[i], encodeHex(h.digest));
    assert.equal(b16[i + hashes.length], encodeHex(h.digest));
    assert.ok(hashEquals(parseHash(b32[i], h.algo), h));
  });
  // Nix draws the overflow line where we do: '1' first is bit 255, '2' is bit 256.
  const top = "sha256:1" + "0".repeat(51);
  const ok = await runOk("nix", ["hash", "to-base16", top], { env });
  assert.equal(ok.trim(), encodeHex(parseHash(top).digest));
  const over = "sha256:2" + "0".repeat(51);
  assert.notEqual((await run("nix", ["hash", "to-base16", over], { env })).code, 0);
  assert.throws(() => parseHash(over), SyntaxError);
});

Deno.test("hash: sha256 of `nix-store --dump P` printed as nix32 equals `nix-store -q --hash P`", async () => {
  const env = await nixEnv();
  const p = await buildPath("hash-probe", "mkdir $out; echo hello > $out/a; ln -s a $out/b", env);
  const dump = await new Deno.Command("nix-store", { args: ["--dump", p], env, stdout: "piped" })
    .output();
  assert.equal(dump.code, 0);
  const ours: Hash = {
    algo: "sha256",
    digest: new Uint8Array(createHash("sha256").update(dump.stdout).digest()),
  };
  const nix = (await runOk("nix-store", ["-q", "--hash", p], { env })).trim();
  assert.equal(formatHash(ours), nix);
  assert.ok(hashEquals(parseHash(nix), ours));
});
