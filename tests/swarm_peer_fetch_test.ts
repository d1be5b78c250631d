/**
 * The peer fetcher's source rules, without sockets: peers are in-memory
 * fakes that answer from a real NAR-like byte string, so a test can make
 * one die or be busy at an exact chunk. The end-to-end behaviour (real
 * links, real Nix) is tests/swarm_fetch_netns_test.ts; this pins down the
 * cases that test can only hit by timing.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type FetchPeer, PeerFetcher } from "../lib/swarm/peer_fetch.ts";
import type { Message } from "../lib/swarm/proto/messages.ts";
import { encodeEntry, type Entry, entryKey, withHolder } from "../lib/swarm/proto/entry.ts";
import { NodeClock, Replica } from "../lib/swarm/replica.ts";
import type { NarChunks } from "../lib/swarm/ports.ts";
import { fingerprint } from "../lib/narinfo/mod.ts";
import { signMessage } from "../lib/sign/mod.ts";
import { hashPartOf, MemEntryStore, testKey, testSegment } from "./_swarm_fixtures.ts";

const KEY = testKey("team-1", 1);
const SELF = new Uint8Array(32).fill(1);
const CHUNK = 64 * 1024;
const CHUNKS = 200;

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(b).digest());
}

/** A NAR of CHUNKS random chunks, and its signed entry. */
function makeNar() {
  const nar = new Uint8Array(CHUNK * CHUNKS);
  for (let o = 0; o < nar.length; o += 65536) crypto.getRandomValues(nar.subarray(o, o + 65536));
  const chunks = Array.from({ length: CHUNKS }, (_, i) => {
    const plain = nar.subarray(i * CHUNK, (i + 1) * CHUNK);
    return { id: sha256(plain), ulen: CHUNK, plain };
  });
  const narHash = sha256(nar);
  const storePath = `/nix/store/${hashPartOf(1)}-big`;
  const fp = fingerprint({
    storePath,
    narHash: { algo: "sha256", digest: narHash },
    narSize: nar.length,
    references: [],
  });
  const entry: Entry = {
    storePath,
    narHash,
    narSize: nar.length,
    references: [],
    sigs: [signMessage(KEY, fp)],
    holders: [],
  };
  return { nar, chunks, entry };
}

type Nar = ReturnType<typeof makeNar>;

/** A linked peer that holds the NAR and answers from it, with faults on cue. */
function fakePeer(
  name: string,
  byte: number,
  nar: Nar,
  fetcher: () => PeerFetcher,
  faults: { dieAtChunk?: number; busyFirst?: number } = {},
) {
  let answered = 0;
  let busy = faults.busyFirst ?? 0;
  const peer: FetchPeer & { closed: boolean; asked: number } = {
    name,
    key: new Uint8Array(32).fill(byte),
    closed: false,
    fetched: 0,
    asked: 0,
    indexOf: () => 0,
    send: (m) => peer.sendMany([m]),
    sendMany(ms: Message[]) {
      if (peer.closed) return Promise.reject(new Error("closed"));
      setTimeout(() => {
        for (const m of ms) {
          if (peer.closed) return;
          if (m.t === "nar_req") {
            fetcher().onAnswer({
              t: "nar_manifest",
              req: m.req,
              narSize: nar.nar.length,
              total: CHUNKS,
              from: m.from,
              chunks: nar.chunks.slice(m.from).map(({ id, ulen }) => ({ id, ulen })),
            });
          } else if (m.t === "chunk_req") {
            peer.asked++;
            if (busy > 0) {
              busy--;
              fetcher().onAnswer({ t: "nar_err", req: m.req, error: "busy" });
              continue;
            }
            if (answered === faults.dieAtChunk) {
              peer.closed = true;
              fetcher().peerGone(peer);
              return;
            }
            answered++;
            fetcher().onAnswer({
              t: "chunk",
              req: m.req,
              method: 0,
              data: nar.chunks[m.index].plain.slice(),
            });
          }
        }
      }, 1);
      return Promise.resolve();
    },
  };
  return peer;
}

/** Nothing is held here; nothing is stored. */
const noNars: NarChunks = {
  manifest: () => Promise.resolve(undefined),
  chunk: () => Promise.resolve(undefined),
  has: (ids) => Promise.resolve(ids.map(() => false)),
  localChunk: () => Promise.resolve(undefined),
  save: () => Promise.resolve("stored"),
};

function setup(peers: (f: () => PeerFetcher, nar: Nar) => FetchPeer[]) {
  const nar = makeNar();
  const replica = new Replica(testSegment("team", [KEY]), new MemEntryStore(), {
    storeDir: "/nix/store",
    self: SELF,
    clock: new NodeClock(),
  });
  const logs: string[] = [];
  const penalized: string[] = [];
  const list = peers(() => fetcher, nar);
  const fetcher: PeerFetcher = new PeerFetcher({
    nars: noNars,
    peers: () => list,
    penalize: (p, why) => penalized.push(`${p.name}: ${why}`),
    log: (m) => logs.push(m),
    noSave: true,
  });
  /** `peer` holds the NAR now, as a state of it arriving from a sync would say. */
  const holds = async (peer: FetchPeer) => {
    const e = withHolder(nar.entry, peer.key, Date.now(), true);
    const out = await replica.receive([encodeEntry(e)], peer.name);
    assert.equal(out.changed, 1);
  };
  const open = async () => {
    const key = entryKey(nar.entry);
    const entry = (await replica.entry(key))!;
    return await fetcher.open(entry, [{ replica, key }]);
  };
  return { nar, fetcher, holds, open, logs, penalized };
}

async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** A transfer begun from a, which dies past the first window (64 chunks); b holds the NAR too. */
async function dyingAndLate() {
  let a!: ReturnType<typeof fakePeer>;
  let b!: ReturnType<typeof fakePeer>;
  const t = setup((f, nar) => [
    a = fakePeer("a", 2, nar, f, { dieAtChunk: 100 }),
    b = fakePeer("b", 3, nar, f),
  ]);
  await t.holds(a);
  const got = (await t.open())!;
  return { t, a, b, got };
}

Deno.test("peer fetch: a holder known only after the transfer began takes over from a dead one", async () => {
  const { t, b, got } = await dyingAndLate();
  assert.ok(got, "the transfer starts from a");
  // b's state arrives while a is serving: the entry the transfer began with did not name b.
  await t.holds(b);
  const bytes = await readAll(got.body);
  assert.equal(bytes.length, t.nar.nar.length);
  assert.deepEqual(sha256(bytes), t.nar.entry.narHash, "byte-exact");
  assert.ok(b.asked > 0, "b delivered the rest");
  assert.equal(t.fetcher.stats.failed, 0, t.logs.join("\n"));
  assert.deepEqual(t.penalized, [], "a peer that died is not a liar");
});

Deno.test("peer fetch: with no other holder, a dead peer fails the transfer (the body errors)", async () => {
  let a!: ReturnType<typeof fakePeer>;
  const t = setup((f, nar) => [a = fakePeer("a", 2, nar, f, { dieAtChunk: 100 })]);
  await t.holds(a);
  const got = (await t.open())!;
  await assert.rejects(readAll(got.body), /no peer left/);
  assert.equal(t.fetcher.stats.failed, 1);
});

Deno.test("peer fetch: a busy peer is asked again, not dropped", async () => {
  let a!: ReturnType<typeof fakePeer>;
  const t = setup((f, nar) => [a = fakePeer("a", 2, nar, f, { busyFirst: 10 })]);
  await t.holds(a);
  const got = (await t.open())!;
  const bytes = await readAll(got.body);
  assert.deepEqual(sha256(bytes), t.nar.entry.narHash);
  assert.ok(a.asked >= CHUNKS + 10, `asked ${a.asked} times`);
  assert.equal(t.fetcher.stats.failed, 0, t.logs.join("\n"));
});

Deno.test("peer fetch: a holder whose state arrives a second after the last source died finishes it", async () => {
  const { t, a, b, got } = await dyingAndLate();
  const reading = readAll(got.body);
  while (!a.closed) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 1_000));
  await t.holds(b);
  const bytes = await reading;
  assert.deepEqual(sha256(bytes), t.nar.entry.narHash, "byte-exact");
  assert.equal(t.fetcher.stats.failed, 0, t.logs.join("\n"));
});
