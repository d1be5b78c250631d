/**
 * The discovery datagram: "a node of segment X listens for links on port P
 * with static key S". One datagram per segment, sent to the multicast group.
 *
 * ```
 * 0      4    5    6        22           54     56          64           80
 * "ARCA" | v1 | 1  | topic id | static key | port | time (ms) | mac (16)  |
 * ```
 *
 * The MAC (HMAC-SHA256 with the segment's announce key) means only members
 * can make announces a node acts on; the time bounds replays. The address
 * to dial is the datagram's source address, never one written inside it,
 * so an announce cannot point a node at a third party.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import { mac } from "./topic.ts";
import { Reader, WireError, Writer } from "./bytes.ts";

export const ANNOUNCE_SIZE = 80;
const MAGIC = [0x41, 0x52, 0x43, 0x41]; // "ARCA"
const VERSION = 1;
const TYPE_ANNOUNCE = 1;
/** Announces further than this from our clock are ignored (replays, broken clocks). */
export const ANNOUNCE_MAX_SKEW_MS = 60_000;

export interface Announce {
  topicId: Uint8Array;
  staticKey: Uint8Array;
  syncPort: number;
  timeMs: number;
}

export function encodeAnnounce(a: Announce, announceKey: Uint8Array): Uint8Array {
  const w = new Writer(ANNOUNCE_SIZE);
  w.raw(new Uint8Array(MAGIC)).u8(VERSION).u8(TYPE_ANNOUNCE).raw(a.topicId).raw(a.staticKey);
  w.u16(a.syncPort).u64(a.timeMs);
  const body = w.finish();
  return new Writer(ANNOUNCE_SIZE).raw(body).raw(mac(announceKey, 16, body)).finish();
}

/** The topic id of a datagram that looks like an announce, to find its key; else undefined. */
export function announceTopic(d: Uint8Array): Uint8Array | undefined {
  if (d.length !== ANNOUNCE_SIZE) return undefined;
  for (let i = 0; i < 4; i++) if (d[i] !== MAGIC[i]) return undefined;
  if (d[4] !== VERSION || d[5] !== TYPE_ANNOUNCE) return undefined;
  return d.subarray(6, 22);
}

/**
 * Checks and decodes an announce of the segment whose announce key is
 * given. Throws `WireError` saying why it is refused.
 */
export function decodeAnnounce(d: Uint8Array, announceKey: Uint8Array, nowMs: number): Announce {
  if (!announceTopic(d)) throw new WireError("not an Arca announce");
  const body = d.subarray(0, ANNOUNCE_SIZE - 16);
  if (!timingSafeEqual(mac(announceKey, 16, body), d.subarray(ANNOUNCE_SIZE - 16))) {
    throw new WireError("announce MAC does not verify");
  }
  const r = new Reader(body, "announce");
  r.raw(6);
  const topicId = r.raw(16).slice();
  const staticKey = r.raw(32).slice();
  const syncPort = r.u16();
  const timeMs = r.u64();
  if (syncPort === 0) throw new WireError("announce names port 0");
  if (Math.abs(timeMs - nowMs) > ANNOUNCE_MAX_SKEW_MS) {
    throw new WireError(`announce time is ${Math.round((timeMs - nowMs) / 1000)} s off`);
  }
  return { topicId, staticKey, syncPort, timeMs };
}
