/**
 * The Noise layer of the swarm (lib/swarm/noise): every published vector for the handshakes Arca
 * speaks is reproduced byte for byte on both sides, and every way a handshake or a transport can
 * go wrong ends in a NoiseError at the right place.
 */
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import fc from "fast-check";
import { decodeHex, encodeHex } from "../lib/encoding/hex.ts";
import {
  CipherState,
  generateKeyPair,
  type HandshakeOptions,
  HandshakeState,
  keyPairFromPrivate,
  MAX_NOISE_MESSAGE,
  NoiseError,
} from "../lib/swarm/noise/mod.ts";
import { HASH_FUNCTIONS } from "../lib/swarm/noise/hash_function.ts";
import { parseProtocolName } from "../lib/swarm/noise/protocol_name.ts";

interface Vector {
  protocol_name: string;
  init_prologue: string;
  resp_prologue: string;
  init_psks?: string[];
  resp_psks?: string[];
  init_static: string;
  resp_static: string;
  init_ephemeral: string;
  resp_ephemeral: string;
  handshake_hash?: string;
  messages: { payload: string; ciphertext: string }[];
}

const FIXTURES = new URL("./fixtures/noise/", import.meta.url);
const VECTOR_FILES = {
  "cacophony-XX-25519-ChaChaPoly.json": { entries: 4, messages: 6, withHash: 4 },
  "snow-XX-25519-ChaChaPoly.json": { entries: 4, messages: 5, withHash: 0 },
};

const bytes = (n: number) => new Uint8Array(randomBytes(n));
const text = (s: string) => new TextEncoder().encode(s);

/** Both sides of a vector's handshake, with its fixed keys. */
function vectorParties(v: Vector): [HandshakeState, HandshakeState] {
  const side = (initiator: boolean): HandshakeState => {
    const p = initiator ? "init" : "resp";
    return new HandshakeState({
      protocolName: v.protocol_name,
      initiator,
      prologue: decodeHex(v[`${p}_prologue`]),
      staticKey: keyPairFromPrivate(decodeHex(v[`${p}_static`])),
      ephemeralKey: keyPairFromPrivate(decodeHex(v[`${p}_ephemeral`])),
      psks: (v[`${p}_psks`] ?? []).map(decodeHex),
    });
  };
  return [side(true), side(false)];
}

/** Runs one vector; returns how many ciphertexts and handshake hashes it checked. */
function runVector(v: Vector): { messages: number; hashes: number } {
  const [init, resp] = vectorParties(v);
  let send: CipherState[] = [];
  let receive: CipherState[] = [];
  let messages = 0;
  let hashes = 0;
  for (const [i, m] of v.messages.entries()) {
    const where = `${v.protocol_name} message ${i}`;
    const [writer, reader] = i % 2 === 0 ? [0, 1] : [1, 0];
    const payload = decodeHex(m.payload);
    let ciphertext: Uint8Array;
    let plaintext: Uint8Array;
    if (!init.isComplete) {
      const parties = [init, resp];
      ciphertext = parties[writer].writeMessage(payload);
      assert.equal(encodeHex(ciphertext), m.ciphertext, where);
      plaintext = parties[reader].readMessage(ciphertext);
      if (init.isComplete) {
        assert.ok(resp.isComplete, where);
        assert.equal(encodeHex(init.handshakeHash), encodeHex(resp.handshakeHash), where);
        if (v.handshake_hash) {
          assert.equal(encodeHex(init.handshakeHash), v.handshake_hash, where);
          hashes++;
        }
        const initKey = keyPairFromPrivate(decodeHex(v.init_static)).publicKey;
        const respKey = keyPairFromPrivate(decodeHex(v.resp_static)).publicKey;
        assert.deepEqual(init.remoteStaticKey, respKey, where);
        assert.deepEqual(resp.remoteStaticKey, initKey, where);
        const a = init.split();
        const b = resp.split();
        send = [a.send, b.send];
        receive = [a.receive, b.receive];
      }
    } else {
      ciphertext = send[writer].encrypt(payload);
      assert.equal(encodeHex(ciphertext), m.ciphertext, where);
      plaintext = receive[reader].decrypt(ciphertext);
    }
    assert.equal(encodeHex(plaintext), m.payload, `${where}: payload read back`);
    messages++;
  }
  assert.ok(init.isComplete && send.length === 2, `${v.protocol_name}: reached the transport`);
  return { messages, hashes };
}

Deno.test("noise: all 8 published vectors are reproduced, on both sides", async () => {
  const ran: string[] = [];
  for (const [file, expected] of Object.entries(VECTOR_FILES)) {
    const { vectors } = JSON.parse(await Deno.readTextFile(new URL(file, FIXTURES))) as {
      vectors: Vector[];
    };
    assert.equal(vectors.length, expected.entries, file);
    let hashes = 0;
    for (const v of vectors) {
      assert.equal(v.messages.length, expected.messages, `${file} ${v.protocol_name}`);
      const done = runVector(v);
      assert.equal(done.messages, expected.messages, `${file} ${v.protocol_name}: all messages`);
      hashes += done.hashes;
      ran.push(`${file.split("-")[0]} ${v.protocol_name}`);
    }
    assert.equal(hashes, expected.withHash, `${file}: handshake hashes checked`);
  }
  assert.deepEqual(ran, [
    "cacophony Noise_XX_25519_ChaChaPoly_BLAKE2s",
    "cacophony Noise_XX_25519_ChaChaPoly_SHA256",
    "cacophony Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s",
    "cacophony Noise_XXpsk3_25519_ChaChaPoly_SHA256",
    "snow Noise_XX_25519_ChaChaPoly_BLAKE2s",
    "snow Noise_XX_25519_ChaChaPoly_SHA256",
    "snow Noise_XXpsk0+psk3_25519_ChaChaPoly_BLAKE2s",
    "snow Noise_XXpsk0+psk3_25519_ChaChaPoly_SHA256",
  ]);
});

Deno.test("noise: HMAC built from HASH with BLOCKLEN 64 agrees with node:crypto's", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("SHA256", "BLAKE2s"),
      fc.uint8Array({ maxLength: 100 }), // keys shorter and longer than the block
      fc.uint8Array({ maxLength: 200 }),
      (name, key, data) => {
        const node = name === "SHA256" ? "sha256" : "blake2s256";
        const expected = createHmac(node, key).update(data).digest("hex");
        assert.equal(encodeHex(HASH_FUNCTIONS[name].hmac(key, data)), expected);
      },
    ),
    { numRuns: 200 },
  );
});

// --- handshakes between two parties, for the negative cases ------------------------------------

const PSK3 = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s";
const PLAIN_XX = "Noise_XX_25519_ChaChaPoly_SHA256";

interface Pair {
  init: HandshakeState;
  resp: HandshakeState;
}

function pair(
  protocolName: string,
  init: Partial<HandshakeOptions> = {},
  resp: Partial<HandshakeOptions> = {},
): Pair {
  const pskCount = parseProtocolName(protocolName).pskCount;
  const psks = Array.from({ length: pskCount }, () => bytes(32));
  const common = { protocolName, prologue: text("arca test"), psks };
  return {
    init: new HandshakeState({ ...common, initiator: true, staticKey: generateKeyPair(), ...init }),
    resp: new HandshakeState({
      ...common,
      initiator: false,
      staticKey: generateKeyPair(),
      ...resp,
    }),
  };
}

/** The side that writes handshake message `i` (0-based) and the side that reads it. */
function sides(p: Pair, i: number): [HandshakeState, HandshakeState] {
  return i % 2 === 0 ? [p.init, p.resp] : [p.resp, p.init];
}

/**
 * Runs the three handshake messages, letting `tamper` change message i in flight. Returns where
 * reading failed ("message N read by initiator|responder"), or "complete".
 */
function runHandshake(p: Pair, tamper: (i: number, m: Uint8Array) => Uint8Array = (_, m) => m) {
  for (let i = 0; i < 3; i++) {
    const [writer, reader] = sides(p, i);
    const message = tamper(i, writer.writeMessage(text(`payload ${i}`)));
    try {
      reader.readMessage(message);
    } catch (e) {
      assert.ok(e instanceof NoiseError, `a NoiseError, not ${e}`);
      return { at: `message ${i + 1} read by ${reader === p.init ? "initiator" : "responder"}`, e };
    }
  }
  return { at: "complete", e: undefined };
}

/** A failed state refuses everything afterwards, with the error that failed it. */
function assertUnusable(s: HandshakeState, failure: unknown) {
  const same = (e: unknown) => e === failure;
  assert.throws(() => s.readMessage(new Uint8Array(100)), same);
  assert.throws(() => s.writeMessage(new Uint8Array(0)), same);
  assert.throws(() => s.split(), same);
}

Deno.test("noise: a full handshake for every psk combination, then transport both ways", () => {
  for (let mask = 0; mask < 16; mask++) {
    const mods = [0, 1, 2, 3].filter((n) => mask & (1 << n)).map((n) => `psk${n}`).join("+");
    const name = `Noise_XX${mods}_25519_ChaChaPoly_${mask % 2 ? "SHA256" : "BLAKE2s"}`;
    const p = pair(name);
    assert.equal(runHandshake(p).at, "complete", name);
    assert.deepEqual(p.init.handshakeHash, p.resp.handshakeHash, name);
    const a = p.init.split();
    const b = p.resp.split();
    for (let n = 0; n < 3; n++) {
      assert.deepEqual(b.receive.decrypt(a.send.encrypt(text(`a${n}`))), text(`a${n}`), name);
      assert.deepEqual(a.receive.decrypt(b.send.encrypt(text(`b${n}`))), text(`b${n}`), name);
    }
  }
});

Deno.test("noise: random payloads and PSKs survive the handshake and the transport", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 3, maxLength: 3 }),
      fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 6 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 64 }),
      (handshakePayloads, transport, psk, prologue) => {
        const p = pair(PSK3, { psks: [psk], prologue }, { psks: [psk], prologue });
        for (let i = 0; i < 3; i++) {
          const [writer, reader] = sides(p, i);
          assert.deepEqual(
            reader.readMessage(writer.writeMessage(handshakePayloads[i])),
            handshakePayloads[i],
          );
        }
        const a = p.init.split();
        const b = p.resp.split();
        for (const m of transport) assert.deepEqual(b.receive.decrypt(a.send.encrypt(m)), m);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("noise: a wrong PSK fails on the side that reads the psk message; neither side talks", async (t) => {
  const cases = [
    // XXpsk3: the psk token ends message 3, which the responder reads.
    { name: PSK3, wrong: "responder", at: "message 3 read by responder" },
    { name: PSK3, wrong: "initiator", at: "message 3 read by responder" },
    // psk0: the very first payload is already under the PSK.
    {
      name: "Noise_XXpsk0_25519_ChaChaPoly_SHA256",
      wrong: "responder",
      at: "message 1 read by responder",
    },
    // psk2 ends message 2, which the initiator reads.
    {
      name: "Noise_XXpsk2_25519_ChaChaPoly_BLAKE2s",
      wrong: "initiator",
      at: "message 2 read by initiator",
    },
  ] as const;
  for (const c of cases) {
    await t.step(`${c.name}, wrong PSK on the ${c.wrong}`, () => {
      const other = { psks: [bytes(32)] };
      const p = c.wrong === "initiator" ? pair(c.name, other) : pair(c.name, {}, other);
      const failed = runHandshake(p);
      assert.equal(failed.at, c.at);
      assert.match(String(failed.e), /cannot decrypt the payload/);
      const [reader, writer] = failed.at.endsWith("responder")
        ? [p.resp, p.init]
        : [p.init, p.resp];
      // The reader is done for: it will neither finish the handshake nor yield CipherStates.
      assertUnusable(reader, failed.e);
      if (!writer.isComplete) {
        // The writer waits for a reply that cannot come.
        assert.throws(() => writer.split(), /not complete/);
        return;
      }
      // The writer (XXpsk3's initiator) believes it is done and sends its first transport
      // message; the reader has no CipherState to open it with (the next test shows that the
      // keys it would have derived do not open it either).
      const first = writer.split().send.encrypt(text("first transport message"));
      assert.throws(() => reader.split().receive.decrypt(first), NoiseError);
      assert.throws(() => writer.split(), /already called/);
    });
  }
});

Deno.test("noise: with a wrong PSK each side's transport keys differ, so both directions fail", () => {
  // In XXpsk3 only the end of message 3 depends on the PSK. So with the same static and ephemeral
  // keys, a handshake run entirely with PSK B gives the responder exactly the keys it would hold
  // had it ignored the failed tag in a handshake against an initiator with PSK A. Those keys
  // open nothing the initiator sends, and the initiator opens nothing sent with them.
  const sk = { init: generateKeyPair(), resp: generateKeyPair() };
  const ek = { init: generateKeyPair(), resp: generateKeyPair() };
  const run = (psk: Uint8Array) => {
    const common = { protocolName: PSK3, prologue: text("p"), psks: [psk] };
    const init = new HandshakeState({
      ...common,
      initiator: true,
      staticKey: sk.init,
      ephemeralKey: ek.init,
    });
    const resp = new HandshakeState({
      ...common,
      initiator: false,
      staticKey: sk.resp,
      ephemeralKey: ek.resp,
    });
    const messages = [0, 1, 2].map((i) => {
      const [w, r] = i % 2 === 0 ? [init, resp] : [resp, init];
      const m = w.writeMessage(new Uint8Array(0));
      r.readMessage(m);
      return m;
    });
    return { messages, init: init.split(), resp: resp.split() };
  };
  const withA = run(bytes(32));
  const withB = run(bytes(32));
  // The premise: the two runs agree up to the psk token (message 3 starts with the encrypted s).
  assert.deepEqual(withA.messages.slice(0, 2), withB.messages.slice(0, 2));
  assert.deepEqual(withA.messages[2].subarray(0, 48), withB.messages[2].subarray(0, 48));
  assert.notDeepEqual(withA.messages[2], withB.messages[2]);
  const toResponder = withA.init.send.encrypt(text("from the initiator"));
  const toInitiator = withB.resp.send.encrypt(text("from the responder"));
  assert.throws(() => withB.resp.receive.decrypt(toResponder), NoiseError);
  assert.throws(() => withA.init.receive.decrypt(toInitiator), NoiseError);
});

Deno.test("noise: handshakes that must fail, and where they fail", async (t) => {
  const flip = (index: number) => (i: number, m: Uint8Array) => {
    if (i !== index) return m;
    const out = m.slice();
    out[out.length >> 1] ^= 0x10;
    return out;
  };
  const cut = (index: number, length: number) => (i: number, m: Uint8Array) =>
    i === index ? m.subarray(0, length) : m;
  const cases: {
    what: string;
    run: () => ReturnType<typeof runHandshake>;
    at: string;
    error: RegExp;
  }[] = [
    {
      // Without a PSK message 1 is all plaintext: the mismatch shows when message 2 is read.
      what: "wrong prologue, XX",
      run: () => runHandshake(pair(PLAIN_XX, {}, { prologue: text("arca test!") })),
      at: "message 2 read by initiator",
      error: /cannot decrypt the peer's static key/,
    },
    {
      // In PSK mode `e` mixes a key, so even message 1's payload is encrypted with h as ad.
      what: "wrong prologue, XXpsk3",
      run: () => runHandshake(pair(PSK3, { prologue: new Uint8Array(0) })),
      at: "message 1 read by responder",
      error: /cannot decrypt the payload/,
    },
    {
      what: "truncated message 1 (inside the ephemeral key)",
      run: () => runHandshake(pair(PLAIN_XX), cut(0, 31)),
      at: "message 1 read by responder",
      error: /message 1 is truncated: 31 bytes end inside the ephemeral key/,
    },
    {
      what: "truncated message 2 (inside the static key)",
      run: () => runHandshake(pair(PSK3), cut(1, 32 + 47)),
      at: "message 2 read by initiator",
      error: /message 2 is truncated: 79 bytes end inside the static key/,
    },
    {
      what: "truncated message 3 (inside the payload's tag)",
      run: () => runHandshake(pair(PSK3), cut(2, 48 + 15)),
      at: "message 3 read by responder",
      error: /message 3 is truncated: 63 bytes end inside the payload's tag/,
    },
    {
      what: "message 3 one byte short",
      run: () => runHandshake(pair(PSK3), (i, m) => i === 2 ? m.subarray(0, m.length - 1) : m),
      at: "message 3 read by responder",
      error: /cannot decrypt the payload/,
    },
    {
      what: "message 2 with a byte appended",
      run: () => runHandshake(pair(PSK3), (i, m) => i === 1 ? Uint8Array.of(...m, 0) : m),
      at: "message 2 read by initiator",
      error: /cannot decrypt the payload/,
    },
    {
      what: "oversized message 1",
      run: () => runHandshake(pair(PSK3), (i, m) => i === 0 ? new Uint8Array(65536) : m),
      at: "message 1 read by responder",
      error: /message 1 is 65536 bytes, at most 65535/,
    },
    {
      what: "flipped bit in message 1, XX (detected by message 2)",
      run: () => runHandshake(pair(PLAIN_XX), flip(0)),
      at: "message 2 read by initiator",
      error: /cannot decrypt the peer's static key/,
    },
    {
      what: "flipped bit in message 1, XXpsk3",
      run: () => runHandshake(pair(PSK3), flip(0)),
      at: "message 1 read by responder",
      error: /cannot decrypt the payload/,
    },
    {
      what: "flipped bit in message 2",
      run: () => runHandshake(pair(PSK3), flip(1)),
      at: "message 2 read by initiator",
      error: /cannot decrypt/,
    },
    {
      what: "flipped bit in message 3",
      run: () => runHandshake(pair(PLAIN_XX), flip(2)),
      at: "message 3 read by responder",
      error: /cannot decrypt/,
    },
    {
      // All zeros is a point of small order: X25519 would give all zeros; refused instead.
      what: "peer ephemeral key of small order",
      run: () => {
        const p = pair(PLAIN_XX);
        const m = p.init.writeMessage(new Uint8Array(0));
        m.fill(0, 0, 32);
        p.resp.readMessage(m); // only hashed so far
        try {
          p.resp.writeMessage(new Uint8Array(0)); // ee: DH(e, re)
        } catch (e) {
          assert.ok(e instanceof NoiseError);
          assertUnusable(p.resp, e);
          return { at: "message 2 written by responder", e };
        }
        return { at: "complete", e: undefined };
      },
      at: "message 2 written by responder",
      error: /X25519 failed/,
    },
  ];
  for (const c of cases) {
    await t.step(c.what, () => {
      const failed = c.run();
      assert.equal(failed.at, c.at);
      assert.match(String(failed.e), c.error);
    });
  }
});

Deno.test("noise: a flipped bit anywhere in any handshake message is caught", () => {
  // Byte j gets bit j % 8 flipped. Message 1 of plain XX is plaintext, so its flips surface
  // when message 2 is read; everything else fails on the spot.
  for (const [name, msg1At] of [[PLAIN_XX, 2], [PSK3, 1]] as const) {
    const lengths: number[] = [];
    runHandshake(pair(name), (_, m) => (lengths.push(m.length), m));
    assert.equal(lengths.length, 3);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < lengths[i]; j++) {
        const p = pair(name);
        let length = -1;
        const failed = runHandshake(p, (k, m) => {
          if (k !== i) return m;
          length = m.length;
          const out = m.slice();
          out[j] ^= 1 << (j % 8);
          return out;
        });
        assert.equal(length, lengths[i], `${name} message ${i + 1} length`);
        const expected = i === 0 ? msg1At : i + 1;
        assert.match(
          failed.at,
          new RegExp(`^message ${expected} `),
          `${name} msg ${i + 1} byte ${j}`,
        );
      }
    }
  }
});

Deno.test("noise: after a failed message even the genuine one is refused", () => {
  // Cut inside the ephemeral key, the read fails before touching h or ck; without the failed
  // state a retry with the real message would go through.
  const p = pair(PSK3);
  const m = p.init.writeMessage(text("hello"));
  let failure: unknown;
  assert.throws(
    () => p.resp.readMessage(m.subarray(0, 31)),
    (e) => (failure = e) instanceof NoiseError,
  );
  assert.throws(() => p.resp.readMessage(m), (e) => e === failure);
  assertUnusable(p.resp, failure);
});

Deno.test("noise: turns, completion and split() are enforced", () => {
  const p = pair(PSK3);
  assert.throws(() => p.resp.writeMessage(new Uint8Array(0)), /not the responder's turn to write/);
  assert.throws(() => p.init.readMessage(new Uint8Array(48)), /not the initiator's turn to read/);
  assert.throws(() => p.init.split(), /not complete: 0 of 3/);
  // Refusing out of turn changes nothing: the handshake still completes.
  assert.equal(runHandshake(p).at, "complete");
  assert.throws(() => p.init.writeMessage(new Uint8Array(0)), /already complete/);
  assert.throws(() => p.resp.readMessage(new Uint8Array(64)), /already complete/);
  const a = p.init.split();
  const b = p.resp.split();
  assert.throws(() => p.init.split(), /already called/);
  assert.deepEqual(b.receive.decrypt(a.send.encrypt(text("still fine"))), text("still fine"));
  // Split in the middle of a handshake.
  const q = pair(PLAIN_XX);
  q.resp.readMessage(q.init.writeMessage(new Uint8Array(0)));
  assert.throws(() => q.resp.split(), /not complete: 1 of 3/);
});

Deno.test("noise: the 65535-byte limit, on handshake and transport messages", () => {
  // Plain XX message 1 is e (32 bytes) and a plaintext payload.
  const p = pair(PLAIN_XX);
  assert.throws(() => p.init.writeMessage(new Uint8Array(65504)), /would be 65536 bytes/);
  const m = p.init.writeMessage(new Uint8Array(65503)); // refusing did not spoil the state
  assert.equal(m.length, MAX_NOISE_MESSAGE);
  assert.equal(p.resp.readMessage(m).length, 65503);
  // Message 2 is e, s and tag, payload and tag.
  assert.throws(() => p.resp.writeMessage(new Uint8Array(65535 - 96 + 1)), /would be 65536/);
  assert.equal(p.resp.writeMessage(new Uint8Array(65535 - 96)).length, MAX_NOISE_MESSAGE);

  const q = pair(PSK3);
  runHandshake(q);
  const a = q.init.split();
  const b = q.resp.split();
  assert.throws(() => a.send.encrypt(new Uint8Array(65520)), /at most 65519 fit/);
  const big = a.send.encrypt(new Uint8Array(65519));
  assert.equal(big.length, MAX_NOISE_MESSAGE);
  assert.equal(b.receive.decrypt(big).length, 65519);
  assert.throws(() => b.receive.decrypt(new Uint8Array(65536)), /65536 bytes, at most 65535/);
  assert.throws(() => b.receive.decrypt(new Uint8Array(15)), /too short/);
});

Deno.test("noise: transport messages are bound to their nonce, key and order", () => {
  const p = pair(PSK3);
  runHandshake(p);
  const a = p.init.split();
  const b = p.resp.split();
  const m0 = a.send.encrypt(text("zero"));
  const m1 = a.send.encrypt(text("one"));
  const m2 = a.send.encrypt(text("two"), text("ad"));
  assert.deepEqual(b.receive.decrypt(m0), text("zero"));
  assert.throws(() => b.receive.decrypt(m0), NoiseError, "a replay fails (nonce 1, not 0)");
  // A failure leaves n alone: the next message in order still opens.
  assert.deepEqual(b.receive.decrypt(m1), text("one"));
  assert.throws(() => b.receive.decrypt(m2), NoiseError, "without its associated data");
  assert.deepEqual(b.receive.decrypt(m2, text("ad")), text("two"));
  // Each direction has its own key: the initiator cannot open its own first message.
  const q = pair(PSK3);
  runHandshake(q);
  const c = q.init.split();
  assert.throws(() => c.receive.decrypt(c.send.encrypt(text("x"))), NoiseError);
  const flipped = a.send.encrypt(text("three"));
  flipped[0] ^= 1;
  assert.throws(() => b.receive.decrypt(flipped), /does not authenticate/);
});

Deno.test("noise: a nonce of 2^64 - 1 is never used", () => {
  const key = bytes(32);
  const send = new CipherState(key);
  const receive = new CipherState(key);
  send.setNonce(2n ** 64n - 2n);
  receive.setNonce(2n ** 64n - 2n);
  const last = send.encrypt(text("last"));
  assert.throws(() => send.encrypt(text("one more")), /nonce exhausted/);
  assert.deepEqual(receive.decrypt(last), text("last"));
  assert.throws(() => receive.decrypt(last), /nonce exhausted/);
  // The high word is really encoded: the same message under nonce 2^32 differs from nonce 0.
  const low = new CipherState(key).encrypt(text("n"));
  const high = new CipherState(key);
  high.setNonce(2n ** 32n);
  assert.notDeepEqual(high.encrypt(text("n")), low);
  assert.throws(() => send.setNonce(2n ** 64n), RangeError);
});

Deno.test("noise: names and options that are refused", async (t) => {
  const names: [string, RegExp][] = [
    ["Noise_IK_25519_ChaChaPoly_BLAKE2s", /handshake pattern "IK" \(only XX\)/],
    ["Noise_XX_448_ChaChaPoly_BLAKE2s", /DH functions "448"/],
    ["Noise_XX_25519_AESGCM_SHA256", /cipher functions "AESGCM"/],
    ["Noise_XX_25519_ChaChaPoly_SHA512", /hash function "SHA512"/],
    ["Noise_XX_25519_ChaChaPoly_BLAKE2b", /hash function "BLAKE2b"/],
    ["Noise_XXpsk4_25519_ChaChaPoly_BLAKE2s", /XX has only 3 messages/],
    ["Noise_XXpsk3+psk0_25519_ChaChaPoly_BLAKE2s", /ascending order/],
    ["Noise_XXpsk1+psk1_25519_ChaChaPoly_BLAKE2s", /distinct/],
    ["Noise_XXfallback_25519_ChaChaPoly_BLAKE2s", /modifier "fallback"/],
    ["Noise_XXpsk0+_25519_ChaChaPoly_BLAKE2s", /modifier ""/],
    ["Noise_XX_25519_ChaChaPoly", /expected Noise_<pattern>/],
    ["noise_XX_25519_ChaChaPoly_BLAKE2s", /expected Noise_<pattern>/],
    ["Noise_xx_25519_ChaChaPoly_BLAKE2s", /bad handshake pattern section/],
    ["Noise_XX_25519_ChaChaPoly_BLAKE2s_", /expected Noise_<pattern>/],
  ];
  for (const [protocolName, error] of names) {
    await t.step(protocolName, () => {
      assert.throws(
        () => pair(protocolName),
        (e) => e instanceof NoiseError && e.name === "NoiseError" && error.test(e.message),
      );
    });
  }
  const good = { protocolName: PSK3, initiator: true, prologue: new Uint8Array(0) };
  const staticKey = generateKeyPair();
  const options: [string, HandshakeOptions, RegExp][] = [
    ["no PSK for psk3", { ...good, staticKey }, /needs 1 PSK\(s\), got 0/],
    ["two PSKs for psk3", { ...good, staticKey, psks: [bytes(32), bytes(32)] }, /got 2/],
    ["a PSK for plain XX", {
      ...good,
      protocolName: PLAIN_XX,
      staticKey,
      psks: [bytes(32)],
    }, /needs 0 PSK/],
    ["a short PSK", { ...good, staticKey, psks: [bytes(31)] }, /Invalid PSK 0: expected 32/],
    ["a short private key", {
      ...good,
      psks: [bytes(32)],
      staticKey: { publicKey: bytes(32), privateKey: bytes(31) },
    }, /X25519 private key: expected 32/],
    ["a mismatched key pair", {
      ...good,
      psks: [bytes(32)],
      staticKey: { publicKey: generateKeyPair().publicKey, privateKey: staticKey.privateKey },
    }, /Invalid staticKey: publicKey is not the public key of privateKey/],
    ["a mismatched ephemeral pair", {
      ...good,
      staticKey,
      psks: [bytes(32)],
      ephemeralKey: { publicKey: staticKey.publicKey, privateKey: bytes(32) },
    }, /Invalid ephemeralKey/],
  ];
  for (const [what, opts, error] of options) {
    await t.step(what, () => assert.throws(() => new HandshakeState(opts), error));
  }
});

Deno.test("noise: key pairs agree with RFC 7748's X25519 test vector", () => {
  // RFC 7748 section 6.1: Alice's private key and public key.
  const alice = keyPairFromPrivate(
    decodeHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
  );
  assert.equal(
    encodeHex(alice.publicKey),
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  );
  const fresh = [generateKeyPair(), generateKeyPair()];
  assert.notDeepEqual(fresh[0].privateKey, fresh[1].privateKey);
  assert.deepEqual(keyPairFromPrivate(fresh[0].privateKey), fresh[0]);
});

Deno.test("noise: encryptInto over parts is encrypt of their concatenation", () => {
  const key = new Uint8Array(32).fill(9);
  const a = new CipherState(key), b = new CipherState(key), rx = new CipherState(key);
  const msg = new Uint8Array(70_000).map((_, i) => i * 31).subarray(0, 65_000);
  const ad = new Uint8Array([1]);
  for (const cut of [0, 1, 40_000, 64_999]) {
    const want = a.encrypt(msg, ad);
    const out = new Uint8Array(want.length + 5);
    const n = b.encryptInto([msg.subarray(0, cut), msg.subarray(cut)], ad, out, 5);
    assert.equal(n, want.length);
    assert.deepEqual(out.subarray(5), want);
    assert.deepEqual(rx.decrypt(out.subarray(5), ad), msg);
  }
  assert.throws(
    () => b.encryptInto([new Uint8Array(65_520)], ad, new Uint8Array(70_000), 0),
    /too large/,
  );
});
