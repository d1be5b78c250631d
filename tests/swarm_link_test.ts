/**
 * Peer links on real TCP sockets (loopback): the handshake proves segment
 * membership on both sides and binds the announced key; whole swarms (two
 * and three nodes, static peers) link once per pair and converge.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../lib/swarm/noise/mod.ts";
import { FrameReader } from "../lib/swarm/frame_io.ts";
import { HandshakeError, initiate, respond } from "../lib/swarm/handshake.ts";
import { Link } from "../lib/swarm/link.ts";
import { chunkMessage, decodeMessage } from "../lib/swarm/proto/messages.ts";
import { Swarm } from "../lib/swarm/swarm.ts";
import { PeerManager } from "../lib/swarm/peers.ts";
import { TokenBuckets } from "../lib/swarm/token_buckets.ts";
import type { LocalPath, LocalPaths } from "../lib/swarm/ports.ts";
import type { SegmentRuntime } from "../lib/swarm/segment_runtime.ts";
import {
  localPathOf,
  MemEntryStore,
  signedEntry,
  testKey,
  testSegment,
} from "./_swarm_fixtures.ts";

const KEY = testKey("team-1", 1);

/** One handshake over loopback; returns what each side ended with. */
async function handshake(
  dialSeg: SegmentRuntime,
  listenSegs: SegmentRuntime[],
  expectKey?: (responderKey: Uint8Array) => Uint8Array,
) {
  const iKey = generateKeyPair(), rKey = generateKeyPair();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const responder = (async () => {
    const conn = await listener.accept();
    const reader = new FrameReader(conn);
    try {
      const s = await respond(conn, reader, { staticKey: rKey, segments: listenSegs });
      const link = new Link(conn, reader, s.send, s.receive, "i");
      await link.send({ t: "ping", nonce: 7 });
      const m = await link.receive();
      link.close("done");
      return { ok: m !== undefined, segment: s.segment.name };
    } catch (e) {
      conn.close();
      return { ok: false, error: e as Error };
    }
  })();
  const initiator = (async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const reader = new FrameReader(conn);
    try {
      const s = await initiate(conn, reader, {
        staticKey: iKey,
        segment: dialSeg,
        expectKey: expectKey?.(rKey.publicKey),
      });
      const link = new Link(conn, reader, s.send, s.receive, "r");
      await link.send({ t: "ping", nonce: 8 });
      const m = await link.receive();
      link.close("done");
      return { ok: m !== undefined, remote: s.remoteKey };
    } catch (e) {
      conn.close();
      return { ok: false, error: e as Error };
    }
  })();
  const [r, i] = await Promise.all([responder, initiator]);
  listener.close();
  return { r, i, rKey };
}

Deno.test("handshake: members link; the responder learns which segment", async () => {
  const team = testSegment("team", [KEY], "custom", 0x11);
  const other = testSegment("other", [KEY], "custom", 0x22);
  const { r, i, rKey } = await handshake(team, [other, team]);
  assert.equal(r.ok, true);
  assert.equal(r.segment, "team");
  assert.equal(i.ok, true);
  assert.deepEqual(i.remote, rKey.publicKey);
});

Deno.test("link: a batch of messages, a chunk over several frames among them, arrives whole and in order", async () => {
  const team = testSegment("team", [KEY], "custom", 0x11);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const big = new Uint8Array(200_000).map((_, i) => (i * 7919) & 0xff);
  const small = crypto.getRandomValues(new Uint8Array(10));
  const received = (async () => {
    const conn = await listener.accept();
    const reader = new FrameReader(conn);
    const s = await respond(conn, reader, { staticKey: generateKeyPair(), segments: [team] });
    const link = new Link(conn, reader, s.send, s.receive, "i");
    const got = [];
    for (let k = 0; k < 4; k++) got.push(decodeMessage((await link.receive())!));
    link.close("done");
    return got;
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new FrameReader(conn);
  const s = await initiate(conn, reader, { staticKey: generateKeyPair(), segment: team });
  const link = new Link(conn, reader, s.send, s.receive, "r");
  await link.sendMany([
    { t: "ping", nonce: 1 },
    chunkMessage(2, 1, big),
    { t: "pong", nonce: 3 },
    chunkMessage(4, 0, small),
  ]);
  const got = await received;
  link.close("done");
  listener.close();
  assert.deepEqual(got, [
    { t: "ping", nonce: 1 },
    { t: "chunk", req: 2, method: 1, data: big },
    { t: "pong", nonce: 3 },
    { t: "chunk", req: 4, method: 0, data: small },
  ]);
});

Deno.test("handshake: a wrong topic key fails on both sides", async () => {
  const mine = testSegment("team", [KEY], "custom", 0x11);
  const theirs = testSegment("team", [KEY], "custom", 0x12);
  const { r, i } = await handshake(mine, [theirs]);
  assert.equal(r.ok, false);
  assert.equal((r.error as HandshakeError).reason, "unknown segment");
  assert.equal(i.ok, false);
  assert.ok(i.error instanceof HandshakeError, String(i.error));
});

Deno.test("handshake: knowing the public topic id is not enough (the PSK proves membership)", async () => {
  const real = testSegment("team", [KEY], "custom", 0x11);
  // An outsider who saw the topic id on the wire, but has no topic key.
  const impostor: SegmentRuntime = {
    ...real,
    keys: { ...real.keys, psk: new Uint8Array(32).fill(0xee) },
  };
  const asDialler = await handshake(impostor, [real]);
  assert.equal(asDialler.r.ok, false);
  assert.equal((asDialler.r.error as HandshakeError).reason, "not a member");
  assert.equal(asDialler.i.ok, false, "the impostor does not get a working link either");
  // The impostor listening, a member dialling it: the member refuses to go on.
  const asListener = await handshake(real, [impostor]);
  assert.equal(asListener.r.ok, false);
  assert.equal(asListener.i.ok, false);
});

Deno.test("handshake: a peer whose static key is not the announced one is refused", async () => {
  const team = testSegment("team", [KEY]);
  const announced = generateKeyPair().publicKey;
  const { r, i } = await handshake(team, [team], () => announced);
  assert.equal(i.ok, false);
  assert.equal((i.error as HandshakeError).reason, "key differs from announce");
  assert.equal(r.ok, false, "the responder never got a finished handshake");
});

/** The local cache of a test node: a list of paths that tests change. */
class MemLocal implements LocalPaths {
  paths = new Map<string, LocalPath>();
  #log: { ms: number; hashPart: string; op: string }[] = [];
  #wake: (() => void)[] = [];
  add(p: LocalPath) {
    this.paths.set(p.hashPart, p);
    this.#change(p.hashPart, "add");
  }
  remove(hashPart: string) {
    this.paths.delete(hashPart);
    this.#change(hashPart, "del");
  }
  #change(hashPart: string, op: string) {
    this.#log.push({ ms: Date.now(), hashPart, op });
    for (const w of this.#wake) w();
  }
  async *list() {
    for (const p of this.paths.values()) yield p;
  }
  get(h: string) {
    return Promise.resolve(this.paths.get(h));
  }
  async *changes(ms: number) {
    for (const c of this.#log) if (c.ms >= ms) yield c;
  }
  follow(signal: AbortSignal, onChange: () => void): Promise<void> {
    this.#wake.push(onChange);
    return new Promise((r) => signal.addEventListener("abort", () => r()));
  }
}

async function until(what: string, f: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function node(seg: SegmentRuntime, peers: number[]) {
  const local = new MemLocal();
  const served = new Map<string, string>();
  const logs: string[] = [];
  const swarm = await Swarm.start({
    segments: [seg],
    staticKey: generateKeyPair(),
    storeDir: "/nix/store",
    nixpkgsKeys: [],
    local,
    entries: new MemEntryStore(),
    sync: { bind: "127.0.0.1", port: 0 },
    staticPeers: peers.map((port) => ({ host: "127.0.0.1", port })),
    maxPeers: 8,
    onRemote: (h, n) => n ? served.set(h, n) : served.delete(h),
    log: (m) => logs.push(m),
  });
  return { local, served, swarm, logs };
}

Deno.test("three nodes on loopback: one link per pair, peers found through peers, convergence", async () => {
  const seg = testSegment("team", [KEY]);
  const a = await node(seg, []);
  const b = await node(seg, [a.swarm.syncPort]);
  const c = await node(seg, [a.swarm.syncPort]);
  try {
    const e1 = signedEntry(1, KEY), e2 = signedEntry(2, KEY), e3 = signedEntry(3, KEY);
    a.local.add(localPathOf(e1));
    b.local.add(localPathOf(e2));
    c.local.add(localPathOf(e3));
    // C only knows A: it hears of B from A's peer list and links to it too.
    await until("full mesh", () => [a, b, c].every((n) => n.swarm.peers.size === 2));
    await until(
      "every path everywhere",
      () =>
        [a, b, c].every((n) =>
          [e1, e2, e3].filter((e) => !n.local.paths.has(localPathOf(e).hashPart))
            .every((e) => n.served.has(localPathOf(e).hashPart))
        ),
    );
    assert.match(
      c.served.get(localPathOf(e1).hashPart)!,
      /^URL: peer\/[0-9a-z]{32}\/[0-9a-z]{52}\.nar$/m,
    );
    // gc on A: its path disappears from B and C.
    a.local.remove(localPathOf(e1).hashPart);
    await a.swarm.refreshLocal();
    await until(
      "removal everywhere",
      () => !b.served.has(localPathOf(e1).hashPart) && !c.served.has(localPathOf(e1).hashPart),
    );
    for (const n of [a, b, c]) {
      assert.equal(n.logs.filter((l) => /refused/.test(l)).length, 0, n.logs.join("\n"));
    }
  } finally {
    for (const n of [a, b, c]) await n.swarm.stop();
  }
});

Deno.test("a flood of candidates stays bounded: per host, in all, and by the dial budget", () => {
  const seg = testSegment("team", [KEY]);
  const pm = new PeerManager({
    staticKey: generateKeyPair(),
    segments: [seg],
    replicas: new Map(),
    bind: "127.0.0.1",
    port: 0,
    maxPeers: 8,
    staticPeers: [],
    log: () => {},
  });
  // One host announcing 10,000 ports with fresh keys: 8 addresses kept.
  for (let i = 0; i < 10_000; i++) {
    pm.offer(
      { key: generateKeyPair().publicKey, host: "10.0.0.9", port: 1000 + i, segment: seg },
      "multicast",
    );
  }
  assert.equal(pm.candidateCount, 8);
  // Many hosts: the table is capped.
  for (let i = 0; i < 2_000; i++) {
    pm.offer(
      { key: generateKeyPair().publicKey, host: `10.1.${i >> 8}.${i & 255}`, port: 7071 },
      "peer",
    );
  }
  assert.equal(pm.candidateCount, 256);
  // Announces are rate limited per source and in all.
  let t = 0;
  const b = new TokenBuckets({ rate: 10, burst: 20, maxKeys: 4 }, () => t);
  let ok = 0;
  for (let i = 0; i < 1000; i++) if (b.take("10.0.0.9")) ok++;
  assert.equal(ok, 20, "the burst, then nothing");
  t += 1000;
  for (let i = 0; i < 1000; i++) if (b.take("10.0.0.9")) ok++;
  assert.equal(ok, 30, "ten more a second later");
});
