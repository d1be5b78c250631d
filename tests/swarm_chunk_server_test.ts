/**
 * The chunk server's rules, without sockets: a peer gets a NAR's chunk list
 * and chunks only for an entry this node holds in the segment the request
 * names (and the link shares), and a chunk only by the id this node's
 * manifest has at that index.
 */
import assert from "node:assert/strict";
import { ChunkServer, type ServingLink } from "../lib/swarm/chunk_server.ts";
import { decodeMessage, type Message } from "../lib/swarm/proto/messages.ts";
import { encodeEntry, entryKey, withHolder } from "../lib/swarm/proto/entry.ts";
import { NodeClock, Replica } from "../lib/swarm/replica.ts";
import type { NarChunks } from "../lib/swarm/ports.ts";
import {
  localPathOf,
  MemEntryStore,
  signedEntry,
  testKey,
  testSegment,
} from "./_swarm_fixtures.ts";
import { WireError } from "../lib/swarm/proto/bytes.ts";

const KEY = testKey("team-1", 1);
const SELF = new Uint8Array(32).fill(1);
const PEER = new Uint8Array(32).fill(2);

function replicaOf(name: string, byte: number) {
  return new Replica(testSegment(name, [KEY], "custom", byte), new MemEntryStore(), {
    storeDir: "/nix/store",
    self: SELF,
    clock: new NodeClock(),
  });
}

/** A store holding one NAR of two chunks. */
function narsWith(narHash: Uint8Array): NarChunks {
  const chunks = [{ id: new Uint8Array(32).fill(7), ulen: 10 }, {
    id: new Uint8Array(32).fill(8),
    ulen: 20,
  }];
  return {
    manifest: (h) =>
      Promise.resolve(
        h.every((b, i) => b === narHash[i]) ? { narSize: 30, method: 0, chunks } : undefined,
      ),
    chunk: (_h, i) => Promise.resolve(new Uint8Array(chunks[i].ulen).fill(i + 1)),
    has: (ids) => Promise.resolve(ids.map(() => false)),
    localChunk: () => Promise.resolve(undefined),
    save: () => Promise.resolve("stored"),
  };
}

function linkOf(replicas: { index: number; replica: Replica }[]) {
  const sent: Message[] = [];
  const link: ServingLink = {
    closed: false,
    replicas,
    served: 0,
    send(m) {
      if (Array.isArray(m)) {
        const whole = new Uint8Array(m.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of m) {
          whole.set(p, o);
          o += p.length;
        }
        sent.push(decodeMessage(whole));
      } else sent.push(m as Message);
      return Promise.resolve();
    },
    async sendMany(ms) {
      for (const m of ms) await link.send(m);
    },
  };
  return { link, sent };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

Deno.test("chunk server: only entries held here, in the segment asked for", async () => {
  const team = replicaOf("team", 0x11);
  const universal = replicaOf("universal", 0x22);
  const held = signedEntry(1, KEY);
  const heldKey = entryKey(held);
  await team.hold([localPathOf(held)]);
  // The same NAR is known on the universal segment too, but only from a peer: not shared there.
  await universal.receive([encodeEntry(withHolder(held, PEER, 5, true))], "peer");
  const server = new ChunkServer(narsWith(held.narHash));

  const viaTeam = linkOf([{ index: 0, replica: team }]);
  server.take(viaTeam.link, { t: "nar_req", req: 1, seg: 0, key: heldKey, from: 0 });
  server.take(viaTeam.link, {
    t: "chunk_req",
    req: 2,
    seg: 0,
    key: heldKey,
    index: 1,
    id: new Uint8Array(32).fill(8),
  });
  // The right index with another chunk's id is refused.
  server.take(viaTeam.link, {
    t: "chunk_req",
    req: 3,
    seg: 0,
    key: heldKey,
    index: 1,
    id: new Uint8Array(32).fill(7),
  });
  await settle();
  assert.deepEqual(viaTeam.sent.map((m) => m.t), ["nar_manifest", "chunk", "nar_err"]);
  assert.equal((viaTeam.sent[1] as { data: Uint8Array }).data.length, 20);
  assert.equal(viaTeam.link.served, 20);

  const viaUniversal = linkOf([{ index: 0, replica: universal }]);
  server.take(viaUniversal.link, { t: "nar_req", req: 4, seg: 0, key: heldKey, from: 0 });
  server.take(viaUniversal.link, {
    t: "chunk_req",
    req: 5,
    seg: 0,
    key: heldKey,
    index: 0,
    id: new Uint8Array(32).fill(7),
  });
  await settle();
  assert.deepEqual(viaUniversal.sent, [
    { t: "nar_err", req: 4, error: "not found" },
    { t: "nar_err", req: 5, error: "not found" },
  ]);
  // A segment the link does not share is a protocol violation.
  assert.throws(
    () => server.take(viaUniversal.link, { t: "nar_req", req: 6, seg: 3, key: heldKey, from: 0 }),
    WireError,
  );
});
