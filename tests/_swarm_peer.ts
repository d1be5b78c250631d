/**
 * A test peer that knows a segment's topic key (a member gone bad, or a
 * curious outsider of one segment). It links to one node with the real
 * handshake and then does what its plan says:
 *
 * - `states`: base64 entry states it offers whenever the node starts a sync
 *   round (forged or not);
 * - `nars`: NARs it serves (chunked as Arca chunks them), each maybe with
 *   `corrupt` chunk indices (bytes flipped) or `lie` (the chunk list of
 *   another NAR of the same size);
 * - `probe`: requests to send once linked; their answers are printed as
 *   JSON lines ("answer ...").
 *
 *   deno run -A tests/_swarm_peer.ts PLAN.json
 *
 * Prints "linked" once the link is up and exits after `seconds`.
 */
import { createHash } from "node:crypto";
import { decodeBase64, decodeHex } from "../lib/encoding/mod.ts";
import { keyPairFromPrivate } from "../lib/swarm/noise/mod.ts";
import { FrameReader } from "../lib/swarm/frame_io.ts";
import { initiate } from "../lib/swarm/handshake.ts";
import { Link } from "../lib/swarm/link.ts";
import { ourTags } from "../lib/swarm/member_tags.ts";
import {
  decodeMessage,
  MAX_MANIFEST_CHUNKS,
  type Message,
  PROTOCOL_VERSION,
} from "../lib/swarm/proto/messages.ts";
import { segmentRuntime } from "../lib/swarm/segment_runtime.ts";
import { Chunker } from "../lib/chunk/mod.ts";

interface Plan {
  connect: string;
  topicKey: string;
  privateKey: string;
  seconds: number;
  states?: string[];
  nars?: { key: string; file: string; corrupt?: number[]; lie?: string }[];
  probe?: Message[];
}

const plan: Plan = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const at = plan.connect.lastIndexOf(":");
const seg = segmentRuntime({
  name: "probe",
  topic_key: plan.topicKey,
  description: "",
  filter: "custom",
  trusted_public_keys: [],
}, []);

/** A NAR cut into chunks the way Arca cuts them. */
async function chunked(file: string) {
  const bytes = await Deno.readFile(file);
  const c = new Chunker();
  const parts = [...c.push(bytes), ...c.finish()].map((p) => p.slice());
  return parts.map((p) => ({
    id: new Uint8Array(createHash("sha256").update(p).digest()),
    data: p,
  }));
}

const nars = new Map<
  string,
  {
    chunks: { id: Uint8Array; data: Uint8Array }[];
    corrupt: Set<number>;
    listed: { id: Uint8Array; data: Uint8Array }[];
  }
>();
for (const n of plan.nars ?? []) {
  const chunks = await chunked(n.file);
  nars.set(n.key, {
    chunks,
    corrupt: new Set(n.corrupt ?? []),
    listed: n.lie ? await chunked(n.lie) : chunks,
  });
}
const states = (plan.states ?? []).map((l) => decodeBase64(l));
const key = keyPairFromPrivate(decodeHex(plan.privateKey));

setTimeout(() => Deno.exit(0), plan.seconds * 1000);
const conn = await Deno.connect({
  hostname: plan.connect.slice(0, at),
  port: Number(plan.connect.slice(at + 1)),
});
const reader = new FrameReader(conn);
const s = await initiate(conn, reader, { staticKey: key, segment: seg });
const link = new Link(conn, reader, s.send, s.receive, plan.connect);
await link.send({
  t: "hello",
  version: PROTOCOL_VERSION,
  syncPort: 1,
  tags: ourTags([seg], s.handshakeHash, true),
});
const hello = await link.receive();
if (!hello || decodeMessage(hello).t !== "hello") throw new Error("no hello from the node");
console.log("linked");
if (states.length) await link.send({ t: "changed", seg: 0 });
for (const m of plan.probe ?? []) await link.send(m);
await link.run(async (bytes) => {
  const m = decodeMessage(bytes);
  if (m.t === "summary") {
    await link.send({ t: "records", seg: m.seg, round: m.round, entries: states });
    await link.send({ t: "done", seg: m.seg, round: m.round });
  } else if (m.t === "ping") await link.send({ t: "pong", nonce: m.nonce });
  else if (m.t === "nar_req") {
    const n = nars.get(m.key);
    if (!n) return await link.send({ t: "nar_err", req: m.req, error: "not found" });
    await link.send({
      t: "nar_manifest",
      req: m.req,
      narSize: n.listed.reduce((a, c) => a + c.data.length, 0),
      total: n.listed.length,
      from: m.from,
      chunks: n.listed.slice(m.from, m.from + MAX_MANIFEST_CHUNKS).map((c) => ({
        id: c.id,
        ulen: c.data.length,
      })),
    });
  } else if (m.t === "chunk_req") {
    const n = nars.get(m.key);
    const c = n?.listed[m.index];
    if (!n || !c) return await link.send({ t: "nar_err", req: m.req, error: "not found" });
    const data = c.data.slice();
    if (n.corrupt.has(m.index)) data[data.length >> 1] ^= 0xff;
    await link.send({ t: "chunk", req: m.req, method: 0, data });
  } else if (m.t === "nar_manifest" || m.t === "nar_err" || m.t === "chunk") {
    console.log(
      `answer ${JSON.stringify({ t: m.t, req: m.req, error: "error" in m ? m.error : undefined })}`,
    );
  }
});
