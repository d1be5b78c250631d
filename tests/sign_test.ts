/**
 * Keys and signatures without Nix: the RFC 8032 test vector, key text round
 * trips, a table of bad keys, and verification that never throws.
 * (tests/nix_interop_keys_test.ts and sign_keygen_test.ts check against Nix.)
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeBase64 } from "../lib/encoding/base64.ts";
import { decodeHex, encodeHex } from "../lib/encoding/hex.ts";
import { parseNarinfo } from "../lib/narinfo/parse_narinfo.ts";
import { fingerprint } from "../lib/narinfo/fingerprint.ts";
import {
  formatPublicKey,
  formatSecretKey,
  generateSecretKey,
  KeyError,
  parsePublicKey,
  parseSecretKey,
  publicKeyOf,
  signMessage,
  signNarinfo,
  verifyMessage,
  verifyNarinfo,
} from "../lib/sign/mod.ts";

Deno.test("sign: RFC 8032 test 1 (empty message) through Nix's key format", () => {
  const seed = decodeHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const k = generateSecretKey("rfc", seed);
  assert.equal(
    encodeHex(k.publicKey),
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  );
  const sig = signMessage(k, "");
  assert.equal(
    sig,
    "rfc:" + encodeBase64(decodeHex(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    )),
  );
  assert.ok(verifyMessage([publicKeyOf(k)], "", sig));
});

const arbName = fc.stringMatching(/^[A-Za-z0-9.\-_+]{1,30}$/);
const arbSeed = fc.uint8Array({ minLength: 32, maxLength: 32 });

Deno.test("sign: key text round trips and signatures verify only for their message and key", () => {
  fc.assert(
    fc.property(arbName, arbSeed, arbSeed, fc.string(), (name, seed, other, msg) => {
      const k = generateSecretKey(name, seed);
      assert.deepEqual(parseSecretKey(formatSecretKey(k) + "\n"), k);
      const pub = publicKeyOf(k);
      assert.deepEqual(parsePublicKey(` ${formatPublicKey(pub)}\n`), pub);
      const sig = signMessage(k, msg);
      assert.ok(sig.startsWith(`${name}:`));
      assert.ok(verifyMessage([pub], msg, sig));
      assert.ok(!verifyMessage([pub], msg + "x", sig));
      // Same name, different key: fails; the right key among several: passes.
      const impostor = publicKeyOf(generateSecretKey(name, other));
      assert.equal(verifyMessage([impostor], msg, sig), encodeHex(other) === encodeHex(seed));
      assert.ok(verifyMessage([impostor, pub], msg, sig));
      // A key under another name is never consulted.
      assert.ok(!verifyMessage([{ name: name + "x", key: pub.key }], msg, sig));
    }),
    { numRuns: 200 },
  );
});

Deno.test("sign: bad keys are rejected with a clear KeyError that never shows the secret", () => {
  const k = generateSecretKey("good-1", new Uint8Array(32).fill(5));
  const secretB64 = formatSecretKey(k).slice("good-1:".length);
  const otherPub = generateSecretKey("x", new Uint8Array(32).fill(6)).publicKey;
  const mismatched = new Uint8Array([...k.seed, ...otherPub]);
  const secretCases: [string, RegExp][] = [
    [secretB64, /missing key name/],
    [`:${secretB64}`, /missing key name/],
    [`my key:${secretB64}`, /must not contain ':' or whitespace/],
    [`good-1:${secretB64.slice(0, -2)}`, /not valid base64/],
    [`good-1:${secretB64.replace(/.$/, "!")}`, /not valid base64/],
    [`good-1:${encodeBase64(k.seed)}`, /expected 64 bytes, got 32/],
    [`good-1:${encodeBase64(mismatched)}`, /public half does not match the seed/],
    ["", /missing key name/],
  ];
  for (const [text, re] of secretCases) {
    assert.throws(
      () => parseSecretKey(text),
      (e: unknown) =>
        e instanceof KeyError && e instanceof SyntaxError && re.test(e.message) &&
        !e.message.includes(secretB64.slice(0, 10)),
      text,
    );
  }
  const pubB64 = encodeBase64(k.publicKey);
  const publicCases: [string, RegExp][] = [
    [pubB64, /missing key name/],
    [`a b:${pubB64}`, /must not contain/],
    [`good-1:${pubB64.slice(1)}`, /length 43 is not a multiple of 4/],
    [`good-1:${secretB64}`, /expected 32 bytes, got 64/],
    [`good-1:`, /expected 32 bytes, got 0/],
  ];
  for (const [text, re] of publicCases) {
    assert.throws(
      () => parsePublicKey(text),
      (e: unknown) => e instanceof KeyError && re.test(e.message),
      text,
    );
  }
  assert.throws(() => generateSecretKey("n", new Uint8Array(31)), /seed must be 32 bytes, got 31/);
  assert.throws(() => generateSecretKey("", new Uint8Array(32)), /missing key name/);
  assert.throws(() => generateSecretKey("a:b", new Uint8Array(32)), /must not contain/);
});

Deno.test("sign: parsers throw only KeyError and verifyMessage never throws on junk", () => {
  const pub = publicKeyOf(generateSecretKey("k", new Uint8Array(32)));
  const junkKey = { name: "k", key: new Uint8Array(32).fill(0xff) }; // not a curve point
  fc.assert(
    fc.property(fc.string({ maxLength: 120 }), fc.string({ maxLength: 10 }), (s, msg) => {
      for (const f of [parseSecretKey, parsePublicKey]) {
        try {
          f(s);
        } catch (e) {
          assert.ok(e instanceof KeyError, String(e));
        }
      }
      assert.equal(verifyMessage([pub, junkKey], msg, s), false);
      assert.equal(verifyMessage([pub, junkKey], msg, "k:" + s), false);
    }),
    { numRuns: 2000 },
  );
  assert.equal(verifyMessage([junkKey], "m", "k:" + "A".repeat(86) + "=="), false);
  assert.equal(
    verifyMessage([{ name: "k", key: new Uint8Array(3) }], "m", "k:" + "A".repeat(86) + "=="),
    false,
  );
});

const NARINFO = `StorePath: /nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib
URL: nar/04h5kkfpnf8d41d2820mx57w734wn9inz236i9gb8zd4jbgp9x8b.nar.xz
Compression: xz
NarHash: sha256:0qklgqgr2wj2v6iihmyflaql1w16gfqn3k4cxdblankzmljm90y5
NarSize: 2592
References: 149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib
Sig: zz-foreign:${"B".repeat(86)}==
`;

Deno.test("sign: signNarinfo adds, replaces its own name, keeps foreign sigs; verifyNarinfo", () => {
  const info = parseNarinfo(NARINFO);
  const k1 = generateSecretKey("cache-1", new Uint8Array(32).fill(1));
  const k1b = generateSecretKey("cache-1", new Uint8Array(32).fill(2));
  const s1 = signNarinfo(info, k1);
  assert.equal(info.sigs.length, 1, "the input is not modified");
  assert.deepEqual(s1.sigs, [signMessage(k1, fingerprint(info)), info.sigs[0]]);
  assert.ok(verifyNarinfo(s1, [publicKeyOf(k1)]));
  assert.ok(!verifyNarinfo(s1, [publicKeyOf(k1b)]));
  assert.ok(!verifyNarinfo(info, [publicKeyOf(k1)]));
  const s2 = signNarinfo(s1, k1b);
  assert.equal(s2.sigs.length, 2);
  assert.ok(verifyNarinfo(s2, [publicKeyOf(k1b)]));
  assert.ok(!verifyNarinfo(s2, [publicKeyOf(k1)]), "the old cache-1 signature was replaced");
  // Neither URL nor compression is covered by the signature; NarSize is.
  assert.ok(verifyNarinfo({ ...s1, url: "elsewhere", compression: "zstd" }, [publicKeyOf(k1)]));
  assert.ok(!verifyNarinfo({ ...s1, narSize: 2593 }, [publicKeyOf(k1)]));
  assert.ok(!verifyNarinfo({ ...s1, references: [] }, [publicKeyOf(k1)]));
  assert.ok(
    !verifyNarinfo({ ...s1, narHash: { algo: "md5", digest: new Uint8Array(16) } }, [
      publicKeyOf(k1),
    ]),
  );
});
