/**
 * The swarm's pure formats: entries (canonical encoding, the CRDT merge
 * laws, the removal rule), announces, link messages, frames, topic keys.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import {
  decodeEntry,
  elementId,
  encodeEntry,
  type Entry,
  entryKey,
  type Holder,
  isLive,
  MAX_HOLDERS,
  mergeEntries,
  withHolder,
} from "../lib/swarm/proto/entry.ts";
import { announceTopic, decodeAnnounce, encodeAnnounce } from "../lib/swarm/proto/announce.ts";
import { decodeMessage, encodeMessage, type Message } from "../lib/swarm/proto/messages.ts";
import { FRAME_PAYLOAD, frameSizes, Reassembler } from "../lib/swarm/proto/frames.ts";
import { deriveTopic, topicKeyFromString } from "../lib/swarm/proto/topic.ts";
import { WireError } from "../lib/swarm/proto/bytes.ts";
import { UNIVERSAL_TOPIC_KEY } from "../lib/config/segments.ts";

const HASH = "0123456789abcdfghijklmnpqrsvwxyz";
const hashPart = fc.array(fc.constantFrom(...HASH), { minLength: 32, maxLength: 32 })
  .map((a) => a.join(""));
const basename = fc.tuple(hashPart, fc.stringMatching(/^[a-z][a-z0-9.-]{0,12}$/))
  .map(([h, n]) => `${h}-${n}`);
const node = fc.uint8Array({ minLength: 32, maxLength: 32 });
const holder: fc.Arbitrary<Holder> = fc.record({
  node: fc.constantFrom(...[1, 2, 3, 4, 5].map((i) => new Uint8Array(32).fill(i))),
  clock: fc.integer({ min: 1, max: 20 }),
  live: fc.boolean(),
}).map((h) => ({ ...h }));

/** States of one entry (same key): what differs is what a merge may change. */
function statesOf(base: Omit<Entry, "sigs" | "holders" | "deriver">) {
  return fc.record({
    sigs: fc.uniqueArray(fc.constantFrom("k1:aaaa", "k2:bbbb", "k3:cccc", "k4:dddd")),
    holders: fc.uniqueArray(holder, { selector: (h) => h.node[0], maxLength: 5 }),
    deriver: fc.option(fc.constantFrom("a".repeat(32) + "-x.drv", "b".repeat(32) + "-y.drv"), {
      nil: undefined,
    }),
  }).map((v) => {
    const e: Entry = {
      ...base,
      sigs: [...v.sigs].sort(),
      holders: [...v.holders].sort((a, b) => a.node[0] - b.node[0]),
    };
    if (v.deriver) e.deriver = v.deriver;
    return e;
  });
}

const BASE = {
  storePath: `/nix/store/${"a".repeat(32)}-hello`,
  narHash: new Uint8Array(32).fill(7),
  narSize: 1234,
  references: [`${"b".repeat(32)}-lib`],
};
const state = statesOf(BASE);
const enc = (e: Entry) => encodeEntry(e);

Deno.test("entry: encoding round-trips and is canonical", () => {
  fc.assert(
    fc.property(
      fc.record({
        hp: hashPart,
        refs: fc.uniqueArray(basename, { maxLength: 6 }),
        size: fc.integer({ min: 1, max: 2 ** 50 }),
        ca: fc.option(fc.constant("fixed:r:sha256:abc"), { nil: undefined }),
      }),
      state,
      (r, s) => {
        const e: Entry = {
          ...s,
          storePath: `/nix/store/${r.hp}-p`,
          narSize: r.size,
          references: [...r.refs].sort(),
        };
        if (r.ca) e.ca = r.ca;
        const b = encodeEntry(e);
        const back = decodeEntry(b);
        assert.deepEqual(back, e);
        assert.deepEqual(encodeEntry(back), b);
      },
    ),
  );
});

Deno.test("entry: decoding refuses every non-canonical or oversized form", () => {
  const good: Entry = {
    ...BASE,
    sigs: ["a:1", "b:2"],
    holders: [{ node: new Uint8Array(32).fill(1), clock: 5, live: true }],
  };
  const b = encodeEntry(good);
  const cases: [string, Uint8Array][] = [
    ["truncated", b.subarray(0, b.length - 1)],
    ["trailing byte", new Uint8Array([...b, 0])],
    ["unknown version", new Uint8Array([9, ...b.subarray(1)])],
    ["unsorted sigs", encodeEntry({ ...good, sigs: ["b:2", "a:1"] })],
    ["repeated sig", encodeEntry({ ...good, sigs: ["a:1", "a:1"] })],
    ["unsorted refs", encodeEntry({ ...good, references: ["z", "a"] })],
    [
      "unsorted holders",
      encodeEntry({
        ...good,
        holders: [
          { node: new Uint8Array(32).fill(2), clock: 1, live: true },
          { node: new Uint8Array(32).fill(1), clock: 1, live: true },
        ],
      }),
    ],
    ["NarSize 0", encodeEntry({ ...good, narSize: 0 })],
    [
      "too many holders",
      encodeEntry({
        ...good,
        holders: Array.from({ length: MAX_HOLDERS + 1 }, (_, i) => ({
          node: new Uint8Array(32).fill(0).map((_, j) => j === 0 ? i >> 8 : j === 1 ? i & 255 : 0),
          clock: 1,
          live: true,
        })),
      }),
    ],
  ];
  for (const [what, bytes] of cases) {
    assert.throws(() => decodeEntry(bytes), WireError, what);
  }
  // Garbage never throws anything but WireError.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (g) => {
    try {
      decodeEntry(g);
    } catch (e) {
      assert.ok(e instanceof WireError, String(e));
    }
  }));
});

Deno.test("entry merge: commutative, associative, idempotent (a join)", () => {
  fc.assert(
    fc.property(state, state, state, (a, b, c) => {
      assert.deepEqual(enc(mergeEntries(a, b)), enc(mergeEntries(b, a)));
      assert.deepEqual(
        enc(mergeEntries(mergeEntries(a, b), c)),
        enc(mergeEntries(a, mergeEntries(b, c))),
      );
      assert.deepEqual(enc(mergeEntries(a, a)), enc(a));
      // Merging in what one already has changes nothing.
      const ab = mergeEntries(a, b);
      assert.deepEqual(enc(mergeEntries(ab, b)), enc(ab));
    }),
    { numRuns: 500 },
  );
});

Deno.test("entry merge: replicas converge whatever the order of delivery", () => {
  fc.assert(
    fc.property(fc.array(state, { minLength: 1, maxLength: 6 }), fc.nat(), (states, seed) => {
      const shuffled = [...states].sort((x, y) =>
        (enc(x)[seed % enc(x).length] ?? 0) - (enc(y)[seed % enc(y).length] ?? 0)
      );
      const one = states.reduce(mergeEntries);
      const two = shuffled.reduce(mergeEntries);
      assert.deepEqual(enc(one), enc(two));
    }),
  );
});

Deno.test("removal rule: gc on one node neither loses others' copies nor comes back", () => {
  const A = new Uint8Array(32).fill(0xa);
  const B = new Uint8Array(32).fill(0xb);
  const base: Entry = { ...BASE, sigs: ["k:1"], holders: [] };
  const heldByBoth = withHolder(withHolder(base, A, 10, true), B, 11, true);
  // A collects the path: its register goes to "gone" with a newer clock.
  const aGone = withHolder(heldByBoth, A, 20, false);
  assert.equal(isLive(aGone), true, "B still holds it: nothing is lost");
  // A stale copy (from a node that was offline) cannot bring A's claim back.
  const stale = heldByBoth;
  assert.deepEqual(enc(mergeEntries(stale, aGone)), enc(aGone));
  assert.deepEqual(enc(mergeEntries(aGone, stale)), enc(aGone));
  // B collects too: the entry is dead everywhere, and stays dead.
  const bothGone = withHolder(aGone, B, 21, false);
  assert.equal(isLive(bothGone), false);
  assert.equal(isLive(mergeEntries(stale, bothGone)), false);
  // A imports it again later: a newer live register wins over the tombstone.
  const again = withHolder(bothGone, A, 30, true);
  assert.equal(isLive(mergeEntries(bothGone, again)), true);
  // At equal clocks "gone" wins (a forged equal-clock claim cannot revive it).
  assert.equal(
    isLive(mergeEntries(withHolder(base, A, 40, false), withHolder(base, A, 40, true))),
    false,
  );
});

Deno.test("entry keys split different contents of one store path, ids follow the state", () => {
  const a: Entry = { ...BASE, sigs: [], holders: [] };
  const other = { ...a, narHash: new Uint8Array(32).fill(8) };
  assert.notEqual(entryKey(a), entryKey(other));
  assert.equal(entryKey(a).slice(0, 32), "a".repeat(32));
  assert.equal(entryKey(a), entryKey({ ...a, references: [...a.references].reverse() }));
  const id1 = elementId(encodeEntry(a));
  const id2 = elementId(encodeEntry({ ...a, sigs: ["x:1"] }));
  assert.notDeepEqual(id1, id2);
});

Deno.test("announce: MAC, time window, size; the topic id reveals nothing of the key", () => {
  const t = deriveTopic("42".repeat(32));
  const now = 1_700_000_000_000;
  const key = new Uint8Array(32).fill(3);
  const d = encodeAnnounce(
    { topicId: t.id, staticKey: key, syncPort: 7071, timeMs: now },
    t.announceKey,
  );
  assert.equal(d.length, 80);
  assert.deepEqual(announceTopic(d), t.id);
  const a = decodeAnnounce(d, t.announceKey, now + 1000);
  assert.deepEqual(a.staticKey, key);
  assert.equal(a.syncPort, 7071);
  const other = deriveTopic("43".repeat(32));
  assert.throws(() => decodeAnnounce(d, other.announceKey, now), /MAC/);
  assert.throws(() => decodeAnnounce(d, t.announceKey, now + 120_000), /off/);
  for (let i = 0; i < d.length; i++) {
    const bad = d.slice();
    bad[i] ^= 1;
    assert.throws(() => decodeAnnounce(bad, t.announceKey, now), WireError, `byte ${i}`);
  }
  assert.equal(announceTopic(d.subarray(0, 79)), undefined);
  // Domain separation: the id is not a prefix or plain hash of the key.
  const raw = "42".repeat(32);
  assert.notDeepEqual(
    t.id,
    new Uint8Array(createHash("sha256").update(Buffer.from(raw, "hex")).digest()).subarray(0, 16),
  );
  assert.notDeepEqual(t.psk, t.memberKey);
});

Deno.test("topic keys: ad-hoc strings, and the universal key is what its comment says", () => {
  assert.match(topicKeyFromString("team"), /^[0-9a-f]{64}$/);
  assert.notEqual(topicKeyFromString("team"), topicKeyFromString("Team"));
  assert.equal(
    UNIVERSAL_TOPIC_KEY,
    createHash("sha256").update("arca universal segment, version 1").digest("hex"),
  );
});

Deno.test("messages: every type round-trips; bounds hold before allocation", () => {
  const id = (n: number): [number, number] => [n, n * 3 + 1];
  const all: Message[] = [
    { t: "hello", version: 1, syncPort: 7071, tags: [new Uint8Array(16).fill(1)] },
    { t: "ping", nonce: 5 },
    { t: "pong", nonce: 6 },
    {
      t: "peers",
      peers: [{ key: new Uint8Array(32).fill(2), host: "10.0.0.1", port: 7, segments: 3 }],
    },
    { t: "changed", seg: 1 },
    { t: "summary", seg: 0, round: 9, count: 100, digest: new Uint8Array(24).fill(4) },
    { t: "in_sync", seg: 0, round: 9 },
    { t: "sketch_req", seg: 0, round: 9, log: 7 },
    { t: "sketch", seg: 0, round: 9, cells: new Uint8Array(48) },
    { t: "want", seg: 0, round: 9, ids: [id(1), id(2)] },
    { t: "want_all", seg: 0, round: 9 },
    { t: "records", seg: 0, round: 9, entries: [new Uint8Array([1, 2, 3])] },
    { t: "ids", seg: 0, round: 9, last: true, ids: [id(3)] },
    { t: "done", seg: 0, round: 9 },
  ];
  for (const m of all) assert.deepEqual(decodeMessage(encodeMessage(m)), m, m.t);
  // A count that promises more than the bytes hold fails as a WireError, not a huge allocation.
  const lying = encodeMessage({ t: "want", seg: 0, round: 1, ids: [] });
  new DataView(lying.buffer).setUint32(6, 60000);
  assert.throws(() => decodeMessage(lying), WireError);
  assert.throws(() => decodeMessage(new Uint8Array([0xee])), /unknown message type/);
  assert.throws(
    () => decodeMessage(new Uint8Array([...encodeMessage({ t: "ping", nonce: 1 }), 0])),
    /trailing/,
  );
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (g) => {
    try {
      decodeMessage(g);
    } catch (e) {
      assert.ok(e instanceof WireError, String(e));
    }
  }));
});

Deno.test("frames: messages split at the frame size and come back whole, bounded", () => {
  for (
    const n of [1, FRAME_PAYLOAD - 1, FRAME_PAYLOAD, FRAME_PAYLOAD + 1, 3 * FRAME_PAYLOAD + 5]
  ) {
    const msg = new Uint8Array(n).map((_, i) => i * 7);
    const sizes = frameSizes(n);
    assert.ok(sizes.every((s) => s > 0 && s <= FRAME_PAYLOAD));
    assert.equal(sizes.reduce((a, b) => a + b, 0), n);
    const r = new Reassembler(1 << 20);
    let out: Uint8Array | undefined, at = 0;
    sizes.forEach((s, i) => {
      out = r.push(msg.slice(at, at + s), i < sizes.length - 1 ? 1 : 0);
      at += s;
      if (i < sizes.length - 1) assert.equal(out, undefined);
    });
    assert.deepEqual(out, msg, `size ${n}`);
  }
  const r = new Reassembler(100_000);
  const full = new Uint8Array(FRAME_PAYLOAD);
  assert.throws(() => {
    r.push(full, 1);
    r.push(full, 1);
  }, /over 100000/);
  assert.throws(() => new Reassembler(10).push(new Uint8Array([1]), 1), /short frame/);
  assert.throws(() => new Reassembler(10).push(new Uint8Array([1]), 2), /flag/);
});

Deno.test("node keys of holders: an entry keeps at most MAX_HOLDERS, the smallest keys", () => {
  const base: Entry = { ...BASE, sigs: [], holders: [] };
  let e = base;
  for (let i = 0; i < MAX_HOLDERS + 10; i++) {
    const n = new Uint8Array(32);
    n[0] = 255 - i;
    e = withHolder(e, n, 1, true);
  }
  assert.equal(e.holders.length, MAX_HOLDERS);
  assert.equal(e.holders[0].node[0], 255 - (MAX_HOLDERS + 9));
  void node;
});
