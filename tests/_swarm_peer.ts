/**
 * A test peer that knows a segment's topic key (a member gone bad): it links
 * to one node with the real handshake and, whenever that node starts a sync
 * round, answers with the states it was given, forged or not. Run inside a
 * test namespace:
 *
 *   deno run -A tests/_swarm_peer.ts HOST:PORT TOPIC_KEY_HEX PRIVATE_KEY_HEX STATES_FILE SECONDS
 *
 * STATES_FILE holds one base64 encoded entry state per line. It prints
 * "linked" once the link is up and exits after SECONDS.
 */
import { decodeBase64, decodeHex } from "../lib/encoding/mod.ts";
import { keyPairFromPrivate } from "../lib/swarm/noise/mod.ts";
import { FrameReader } from "../lib/swarm/frame_io.ts";
import { initiate } from "../lib/swarm/handshake.ts";
import { Link } from "../lib/swarm/link.ts";
import { ourTags } from "../lib/swarm/member_tags.ts";
import { decodeMessage, PROTOCOL_VERSION } from "../lib/swarm/proto/messages.ts";
import { segmentRuntime } from "../lib/swarm/segment_runtime.ts";

const [addr, topicKey, privHex, statesFile, seconds] = Deno.args;
const [host, port] = [
  addr.slice(0, addr.lastIndexOf(":")),
  Number(addr.slice(addr.lastIndexOf(":") + 1)),
];
const seg = segmentRuntime({
  name: "team",
  topic_key: topicKey,
  description: "",
  filter: "custom",
  trusted_public_keys: [],
}, []);
const states = (await Deno.readTextFile(statesFile)).trim().split("\n").map((l) => decodeBase64(l));
const key = keyPairFromPrivate(decodeHex(privHex));

setTimeout(() => Deno.exit(0), Number(seconds) * 1000);
const conn = await Deno.connect({ hostname: host, port });
const reader = new FrameReader(conn);
const s = await initiate(conn, reader, { staticKey: key, segment: seg });
const link = new Link(conn, reader, s.send, s.receive, addr);
await link.send({
  t: "hello",
  version: PROTOCOL_VERSION,
  syncPort: 1,
  tags: ourTags([seg], s.handshakeHash, true),
});
const hello = await link.receive();
if (!hello || decodeMessage(hello).t !== "hello") throw new Error("no hello from the node");
console.log("linked");
// Ask for a round; answer every summary with our states, as an empty peer would.
await link.send({ t: "changed", seg: 0 });
await link.run(async (bytes) => {
  const m = decodeMessage(bytes);
  if (m.t === "summary") {
    await link.send({ t: "records", seg: m.seg, round: m.round, entries: states });
    await link.send({ t: "done", seg: m.seg, round: m.round });
  } else if (m.t === "ping") await link.send({ t: "pong", nonce: m.nonce });
});
