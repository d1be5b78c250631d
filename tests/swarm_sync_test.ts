/**
 * Replicas and anti-entropy without sockets: two (or three) replicas joined
 * by in-memory links that carry the real encoded messages, so the bytes
 * counted are the bytes a link would carry (before Noise's 18 per frame).
 */
import assert from "node:assert/strict";
import { decodeMessage, encodeMessage, type Message } from "../lib/swarm/proto/messages.ts";
import { LinkSync } from "../lib/swarm/link_sync.ts";
import { NodeClock, Replica } from "../lib/swarm/replica.ts";
import {
  decodeEntry,
  encodeEntry,
  type Entry,
  entryKey,
  holderOf,
  isLive,
  withHolder,
} from "../lib/swarm/proto/entry.ts";
import type { SegmentRuntime } from "../lib/swarm/segment_runtime.ts";
import {
  localPathOf,
  MemEntryStore,
  signedEntry,
  testKey,
  testSegment,
} from "./_swarm_fixtures.ts";

const KEY = testKey("team-1", 1);
const OTHER = testKey("team-2", 2);
const STRANGER = testKey("stranger-1", 3);

interface Node {
  id: Uint8Array;
  store: MemEntryStore;
  replica: Replica;
  visible: Map<string, Entry | undefined>;
  /** Called when its replica changes (the swarm kicks every link that shares it). */
  kicks: (() => void)[];
}

function node(seg: SegmentRuntime, byte: number): Node {
  const store = new MemEntryStore();
  const visible = new Map<string, Entry | undefined>();
  const id = new Uint8Array(32).fill(byte);
  const kicks: (() => void)[] = [];
  const replica = new Replica(seg, store, {
    storeDir: "/nix/store",
    self: id,
    clock: new NodeClock(),
    onVisible: (k, e) => visible.set(k, e),
    onChange: () => kicks.forEach((f) => f()),
  });
  return { id, store, replica, visible, kicks };
}

/** Joins two replicas with a pair of LinkSyncs over encoded messages; counts bytes each way. */
function join(a: Node, b: Node) {
  const bytes = { ab: 0, ba: 0 };
  const errors: unknown[] = [];
  // deno-lint-ignore prefer-const
  let sa: LinkSync, sb: LinkSync;
  let chainA = Promise.resolve(), chainB = Promise.resolve();
  const pipe = (dir: "ab" | "ba") => (m: Message) => {
    const wire = encodeMessage(m);
    bytes[dir] += wire.length;
    const msg = decodeMessage(wire) as Extract<Message, { seg: number }>;
    if (dir === "ab") chainB = chainB.then(() => sb.handle(msg)).catch((e) => void errors.push(e));
    else chainA = chainA.then(() => sa.handle(msg)).catch((e) => void errors.push(e));
    return Promise.resolve();
  };
  const driverIsA = a.id[0] < b.id[0];
  sa = new LinkSync(pipe("ab"), [{ index: 0, replica: a.replica }], driverIsA, {
    peer: "b",
    log: () => {},
  });
  sb = new LinkSync(pipe("ba"), [{ index: 0, replica: b.replica }], !driverIsA, {
    peer: "a",
    log: () => {},
  });
  sa.start();
  sb.start();
  a.kicks.push(() => sa.kick(a.replica));
  b.kicks.push(() => sb.kick(b.replica));
  return {
    bytes,
    errors,
    kick() {
      sa.kick(a.replica);
      sb.kick(b.replica);
    },
    stop() {
      sa.stop();
      sb.stop();
    },
  };
}

function sameSet(a: Node, b: Node): boolean {
  return a.replica.set.size === b.replica.set.size &&
    a.replica.set.fingerprint.equals(b.replica.set.fingerprint);
}

async function until(what: string, f: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function holdAll(n: Node, entries: Entry[]): Promise<void> {
  for (let i = 0; i < entries.length; i += 500) {
    await n.replica.hold(entries.slice(i, i + 500).map(localPathOf));
  }
}

Deno.test("two replicas converge; a small difference costs a small exchange", async () => {
  const seg = testSegment("team", [KEY]);
  const a = node(seg, 1), b = node(seg, 2);
  const shared = Array.from({ length: 3000 }, (_, i) => signedEntry(i, KEY));
  await holdAll(a, shared);
  // B got the same paths from A earlier (same states), then each imports a few of its own.
  for await (const { key, bytes } of a.store.list("team")) {
    await b.store.put("team", [{ key, bytes }], []);
  }
  await b.replica.load();
  await holdAll(a, Array.from({ length: 10 }, (_, i) => signedEntry(10_000 + i, KEY)));
  await holdAll(b, Array.from({ length: 5 }, (_, i) => signedEntry(20_000 + i, KEY)));
  const link = join(a, b);
  await until("convergence", () => sameSet(a, b));
  link.stop();
  assert.deepEqual(link.errors, []);
  assert.equal(a.replica.set.size, 3015);
  const total = link.bytes.ab + link.bytes.ba;
  // 15 states of ~300 bytes plus a sketch: a few KiB, not 3000 ids.
  assert.ok(total < 12 * 1024, `exchanged ${total} bytes`);
  // B serves A's new paths (live) and A serves B's.
  const k = entryKey(signedEntry(10_003, KEY));
  assert.ok(b.visible.get(k), "B sees A's new path");
  assert.ok(isLive(decodeEntry((await b.store.get("team", [k]))[0]!)));
});

Deno.test("an empty replica gets everything; equal replicas exchange only fingerprints", async () => {
  const seg = testSegment("team", [KEY]);
  const a = node(seg, 1), b = node(seg, 2);
  await holdAll(a, Array.from({ length: 700 }, (_, i) => signedEntry(i, KEY)));
  const link = join(a, b);
  await until("copy", () => sameSet(a, b));
  const after = link.bytes.ab + link.bytes.ba;
  link.kick();
  await new Promise((r) => setTimeout(r, 600));
  const idle = link.bytes.ab + link.bytes.ba - after;
  link.stop();
  assert.deepEqual(link.errors, []);
  assert.equal(b.replica.set.size, 700);
  assert.ok(idle > 0 && idle < 200, `an idle round cost ${idle} bytes`);
  assert.equal(b.store.audit.filter((e) => e.type === "SyncReceive").length, 700);
});

Deno.test("forged states are refused and counted: bad signature, untrusted key, tampered field", async () => {
  const seg = testSegment("team", [KEY]);
  const b = node(seg, 2);
  const good = signedEntry(1, KEY);
  const holders = [{ node: new Uint8Array(32).fill(9), clock: 5, live: true }];
  const badSig = { ...signedEntry(2, KEY), holders };
  badSig.sigs = [badSig.sigs[0].slice(0, -6) + "AAAAA="];
  const untrusted = { ...signedEntry(3, STRANGER), holders };
  const tampered = { ...signedEntry(4, KEY), holders };
  tampered.narSize += 1;
  const unsigned = { ...signedEntry(5, KEY), sigs: [], holders };
  const badPath = { ...good, storePath: "/nix/store/../etc/passwd", holders };
  const out = await b.replica.receive(
    [
      encodeEntry({ ...good, holders }),
      encodeEntry(badSig),
      encodeEntry(untrusted),
      encodeEntry(tampered),
      encodeEntry(unsigned),
      encodeEntry(badPath),
      new Uint8Array([1, 2, 3]),
    ],
    "mallory",
  );
  assert.equal(out.added, 1);
  assert.deepEqual(out.rejected, {
    "bad signature": 2,
    "untrusted key": 1,
    unsigned: 1,
    malformed: 2,
  });
  assert.equal(out.refused.length, 6);
  assert.equal(b.replica.set.size, 1);
  assert.equal(b.visible.size, 1);
  // A good state may not smuggle in a signature that does not verify.
  const extra = {
    ...good,
    sigs: [...good.sigs, "team-1:" + "A".repeat(86) + "=="].sort(),
    holders,
  };
  const again = await b.replica.receive([encodeEntry(extra)], "mallory");
  assert.equal(again.refused.length, 1);
  const stored = decodeEntry((await b.store.get("team", [entryKey(good)]))[0]!);
  assert.deepEqual(stored.sigs, good.sigs);
});

Deno.test("signatures of two trusted keys end up on both replicas (union)", async () => {
  const seg = testSegment("team", [KEY, OTHER]);
  const a = node(seg, 1), b = node(seg, 2);
  const e1 = signedEntry(7, KEY);
  const e2 = signedEntry(7, OTHER);
  await a.replica.hold([localPathOf(e1)]);
  await b.replica.hold([localPathOf(e2)]);
  const link = join(a, b);
  await until("union", () => sameSet(a, b));
  link.stop();
  const k = entryKey(e1);
  for (const n of [a, b]) {
    const e = decodeEntry((await n.store.get("team", [k]))[0]!);
    assert.deepEqual(e.sigs, [...e1.sigs, ...e2.sigs].sort());
    assert.equal(e.holders.filter((h) => h.live).length, 2);
  }
});

Deno.test("removal: gc on A keeps B's copy; gc on both removes it everywhere, for good", async () => {
  const seg = testSegment("team", [KEY]);
  const a = node(seg, 1), b = node(seg, 2), c = node(seg, 3);
  const e = signedEntry(42, KEY);
  const k = entryKey(e);
  await a.replica.hold([localPathOf(e)]);
  await b.replica.hold([localPathOf(e)]);
  const ab = join(a, b), bc = join(b, c);
  await until("spread", () => sameSet(a, b) && sameSet(b, c));
  // C was offline from here on: keep a copy of its state to replay later.
  const stale = (await c.store.get("team", [k]))[0]!;
  bc.stop();
  await a.replica.release([k]);
  await until("A's release reaches B", () => sameSet(a, b));
  assert.ok(b.visible.get(k), "B still holds it: still served");
  await b.replica.release([k]);
  await until("B's release reaches A", () => sameSet(a, b));
  assert.equal(a.visible.get(k), undefined);
  assert.equal(b.visible.get(k), undefined);
  // The stale state arrives later (C comes back): nothing comes back to life.
  await a.replica.receive([stale], "c");
  const now = decodeEntry((await a.store.get("team", [k]))[0]!);
  assert.equal(isLive(now), false);
  ab.stop();
});

Deno.test("a node corrects a claim about itself that it did not make", async () => {
  const seg = testSegment("team", [KEY]);
  const a = node(seg, 1);
  const e = signedEntry(5, KEY);
  // Someone says A holds it, with a clock from the future.
  const forged = withHolder(e, a.id, Date.now() + 3_600_000, true);
  await a.replica.receive([encodeEntry(forged)], "mallory");
  const mine = holderOf(decodeEntry((await a.store.get("team", [entryKey(e)]))[0]!), a.id)!;
  assert.equal(mine.live, false);
  assert.ok(mine.clock > Date.now() + 3_000_000, "the correction is newer than the forgery");
});

Deno.test("sets too different for the largest sketch fall back to id lists and converge", async () => {
  const seg = testSegment("team", [KEY]);
  const a = node(seg, 1), b = node(seg, 2);
  // 45,000 different states a side: more than a 3 x 2^14-cell sketch can decode.
  await holdAll(a, Array.from({ length: 45_000 }, (_, i) => signedEntry(i, KEY)));
  await holdAll(b, Array.from({ length: 45_000 }, (_, i) => signedEntry(i, KEY, { salt: 1 })));
  const link = join(a, b);
  await until("convergence", () => sameSet(a, b), 120_000);
  link.stop();
  assert.deepEqual(link.errors, []);
  assert.equal(a.replica.set.size, 90_000);
});
