/**
 * Proofs of the segments two linked peers share besides the one their
 * handshake proved. Each side sends, in its hello, one tag per segment it
 * is in: `HMAC(member key, handshake hash, role)`, 16 bytes. Only a member
 * can make a segment's tag, a tag is good for this session only (the
 * handshake hash), and the role keeps a peer from echoing ours back. Tags
 * of segments the other side is not in look like random bytes to it.
 *
 * A shared segment's index on the link is its position in the initiator's
 * hello, so both sides number them alike.
 *
 * @module
 */
import { mac } from "./proto/topic.ts";
import { compareBytes } from "./proto/entry.ts";
import type { SegmentRuntime } from "./segment_runtime.ts";

const LABEL = new TextEncoder().encode("arca member tag");
const INITIATOR = new Uint8Array([0x49]);
const RESPONDER = new Uint8Array([0x52]);

export function memberTag(
  s: SegmentRuntime,
  handshakeHash: Uint8Array,
  byInitiator: boolean,
): Uint8Array {
  return mac(s.keys.memberKey, 16, LABEL, handshakeHash, byInitiator ? INITIATOR : RESPONDER);
}

/** Our tags, for our hello. */
export function ourTags(
  segments: SegmentRuntime[],
  handshakeHash: Uint8Array,
  initiator: boolean,
): Uint8Array[] {
  return segments.map((s) => memberTag(s, handshakeHash, initiator));
}

/**
 * The segments both sides are in, with their link index: for each of the
 * initiator's tags in order, our segment whose tag it is.
 */
export function sharedSegments(
  segments: SegmentRuntime[],
  handshakeHash: Uint8Array,
  initiator: boolean,
  theirTags: Uint8Array[],
): { index: number; segment: SegmentRuntime }[] {
  const out: { index: number; segment: SegmentRuntime }[] = [];
  if (initiator) {
    // Our own order is the link's order; keep ours they proved too.
    const theirs = theirTags;
    segments.forEach((s, i) => {
      const t = memberTag(s, handshakeHash, false);
      if (theirs.some((x) => compareBytes(x, t) === 0)) out.push({ index: i, segment: s });
    });
  } else {
    theirTags.forEach((x, i) => {
      const s = segments.find((s) => compareBytes(memberTag(s, handshakeHash, true), x) === 0);
      if (s) out.push({ index: i, segment: s });
    });
  }
  return out;
}
