/**
 * The messages two linked peers exchange inside their Noise session, and
 * their binary form (`[type u8][fields…]`, see `bytes.ts`). Decoding is for
 * bytes from a peer: every count and size is bounded here, before anything
 * is allocated for it.
 *
 * Link: `hello` (first message each way: listening port and one proof per
 * segment the sender is in), `ping`/`pong`, `peers` (other members, so a
 * node that found one peer finds the rest).
 *
 * Replication, per shared segment (`seg` is its index on this link) and
 * round (chosen by the side that started it):
 * ```
 * I: summary ─▶ R: in_sync                                  (equal: done)
 *               R: records… done                            (I is empty)
 *               R: want_all ─▶ I: records… done             (R is empty)
 *               R: sketch ─▶ I: [sketch_req ─▶ R: sketch]…  (bigger until it decodes)
 *                            I: records… want ─▶ R: records… done
 *                            I: ids… ─▶ R: records… want ─▶ I: records… done  (too different)
 * ```
 * A `want` is always answered by the records asked for, then `done`.
 *
 * NARs from peers (the asking side picks the request id `req`):
 * ```
 * nar_req(seg, key, from) ─▶ nar_manifest(req, size, chunk ids and lengths from `from`) | nar_err
 * chunk_req(seg, key, index, id) ─▶ chunk(req, method, stored bytes) | nar_err
 * ```
 * `key` is the replicated entry's key; the answering side checks on every
 * request that it holds that entry in that segment, which this link shares.
 *
 * @module
 */
import { Reader, WireError, Writer } from "./bytes.ts";
import type { Id } from "../reconcile/mod.ts";

export const MAX_SEGMENTS = 64;
export const MAX_PEERS_LISTED = 64;
export const MAX_RECORDS_PER_MESSAGE = 256;
export const MAX_IDS_PER_MESSAGE = 65536;
/** A whole message (split into frames on the wire). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
export const MAX_SKETCH_BYTES = 3 * (1 << 14) * 16;
export const MAX_ENTRY_WIRE_BYTES = 60 * 1024;
export const PROTOCOL_VERSION = 1;
/** Chunks listed in one `nar_manifest` (40 bytes each). */
export const MAX_MANIFEST_CHUNKS = 16_384;
/** The largest chunk a peer may send (FastCDC's maximum is 256 KiB; compression may grow it a little). */
export const MAX_CHUNK_BYTES = 512 * 1024;

/** One chunk of a NAR as a manifest lists it. */
export interface ManifestChunk {
  /** sha256 of the plain chunk bytes. */
  id: Uint8Array;
  /** Plain length. */
  ulen: number;
}

/** Why a NAR or chunk request was not answered. */
export const NAR_ERRORS = ["not found", "not allowed", "busy", "damaged"] as const;
export type NarError = typeof NAR_ERRORS[number];

export interface PeerAddress {
  key: Uint8Array;
  host: string;
  port: number;
  /** Bit i set: the listed peer shares this link's segment i. */
  segments: number;
}

export type Message =
  | { t: "hello"; version: number; syncPort: number; tags: Uint8Array[] }
  | { t: "ping"; nonce: number }
  | { t: "pong"; nonce: number }
  | { t: "peers"; peers: PeerAddress[] }
  | { t: "changed"; seg: number }
  | { t: "summary"; seg: number; round: number; count: number; digest: Uint8Array }
  | { t: "in_sync"; seg: number; round: number }
  | { t: "sketch_req"; seg: number; round: number; log: number }
  | { t: "sketch"; seg: number; round: number; cells: Uint8Array }
  | { t: "want"; seg: number; round: number; ids: Id[] }
  | { t: "want_all"; seg: number; round: number }
  | { t: "records"; seg: number; round: number; entries: Uint8Array[] }
  | { t: "ids"; seg: number; round: number; last: boolean; ids: Id[] }
  | { t: "done"; seg: number; round: number }
  | { t: "nar_req"; req: number; seg: number; key: string; from: number }
  | {
    t: "nar_manifest";
    req: number;
    narSize: number;
    total: number;
    from: number;
    chunks: ManifestChunk[];
  }
  | { t: "chunk_req"; req: number; seg: number; key: string; index: number; id: Uint8Array }
  | { t: "chunk"; req: number; method: number; data: Uint8Array }
  | { t: "nar_err"; req: number; error: NarError };

export type MessageType = Message["t"];

const CODES: Record<MessageType, number> = {
  hello: 0x01,
  ping: 0x02,
  pong: 0x03,
  peers: 0x04,
  changed: 0x10,
  summary: 0x11,
  in_sync: 0x12,
  sketch_req: 0x13,
  sketch: 0x14,
  want: 0x15,
  want_all: 0x16,
  records: 0x17,
  ids: 0x18,
  done: 0x19,
  nar_req: 0x20,
  nar_manifest: 0x21,
  chunk_req: 0x22,
  chunk: 0x23,
  nar_err: 0x24,
};
const NAMES = new Map(Object.entries(CODES).map(([k, v]) => [v, k as MessageType]));

/** The first byte of an encoded message: lets the link route it without decoding it all. */
export function messageType(b: Uint8Array): MessageType | undefined {
  return b.length ? NAMES.get(b[0]) : undefined;
}

function writeIds(w: Writer, ids: Id[]): void {
  w.u32(ids.length);
  for (const [hi, lo] of ids) w.u32(hi).u32(lo);
}

function readIds(r: Reader): Id[] {
  const n = r.u32();
  if (n > MAX_IDS_PER_MESSAGE) throw new WireError(`${n} ids in one message`);
  if (r.remaining < n * 8) throw new WireError("id list ends early");
  const out: Id[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = [r.u32(), r.u32()];
  return out;
}

/**
 * A `chunk` message as its header and the data itself, for `Link.send`:
 * the (large) data is encrypted from where it is, not copied in first.
 */
export function chunkMessage(req: number, method: number, data: Uint8Array): Uint8Array[] {
  const head = new Writer(10).u8(CODES.chunk).u32(req).u8(method).u32(data.length).finish();
  return [head, data];
}

function digestLength(r: Reader): number {
  const n = r.u8();
  if (n > 64) throw new WireError(`set digest of ${n} bytes`);
  return n;
}

export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer(64);
  w.u8(CODES[m.t]);
  switch (m.t) {
    case "hello":
      w.u8(m.version).u16(m.syncPort).u8(m.tags.length);
      for (const t of m.tags) w.raw(t);
      break;
    case "ping":
    case "pong":
      w.u32(m.nonce);
      break;
    case "peers":
      w.u8(m.peers.length);
      for (const p of m.peers) w.raw(p.key).str(p.host).u16(p.port).u32(p.segments >>> 0);
      break;
    case "changed":
      w.u8(m.seg);
      break;
    case "summary":
      w.u8(m.seg).u32(m.round).u32(m.count).u8(m.digest.length).raw(m.digest);
      break;
    case "in_sync":
    case "want_all":
    case "done":
      w.u8(m.seg).u32(m.round);
      break;
    case "sketch_req":
      w.u8(m.seg).u32(m.round).u8(m.log);
      break;
    case "sketch":
      w.u8(m.seg).u32(m.round).bytes(m.cells);
      break;
    case "want":
      w.u8(m.seg).u32(m.round);
      writeIds(w, m.ids);
      break;
    case "records":
      w.u8(m.seg).u32(m.round).u16(m.entries.length);
      for (const e of m.entries) w.bytes(e);
      break;
    case "ids":
      w.u8(m.seg).u32(m.round).u8(m.last ? 1 : 0);
      writeIds(w, m.ids);
      break;
    case "nar_req":
      w.u32(m.req).u8(m.seg).str(m.key).u32(m.from);
      break;
    case "nar_manifest":
      w.u32(m.req).u64(m.narSize).u32(m.total).u32(m.from).u32(m.chunks.length);
      for (const c of m.chunks) w.raw(c.id).u32(c.ulen);
      break;
    case "chunk_req":
      w.u32(m.req).u8(m.seg).str(m.key).u32(m.index).raw(m.id);
      break;
    case "chunk":
      w.u32(m.req).u8(m.method).bytes(m.data);
      break;
    case "nar_err":
      w.u32(m.req).u8(NAR_ERRORS.indexOf(m.error));
      break;
  }
  const out = w.finish();
  if (out.length > MAX_MESSAGE_BYTES) throw new RangeError(`message of ${out.length} bytes`);
  return out;
}

/** Decodes a message from a peer; `WireError` says what is wrong. */
export function decodeMessage(b: Uint8Array): Message {
  if (b.length > MAX_MESSAGE_BYTES) throw new WireError(`message of ${b.length} bytes`);
  const t = messageType(b);
  if (!t) throw new WireError(`unknown message type ${b[0]}`);
  const r = new Reader(b, `${t} message`);
  r.u8();
  let m: Message;
  switch (t) {
    case "hello": {
      const version = r.u8();
      const syncPort = r.u16();
      const n = r.u8();
      if (n > MAX_SEGMENTS) throw new WireError(`hello lists ${n} segments`);
      const tags: Uint8Array[] = [];
      for (let i = 0; i < n; i++) tags.push(r.raw(16).slice());
      m = { t, version, syncPort, tags };
      break;
    }
    case "ping":
    case "pong":
      m = { t, nonce: r.u32() };
      break;
    case "peers": {
      const n = r.u8();
      if (n > MAX_PEERS_LISTED) throw new WireError(`peers lists ${n} peers`);
      const peers: PeerAddress[] = [];
      for (let i = 0; i < n; i++) {
        peers.push({ key: r.raw(32).slice(), host: r.str(64), port: r.u16(), segments: r.u32() });
      }
      m = { t, peers };
      break;
    }
    case "changed":
      m = { t, seg: r.u8() };
      break;
    case "summary":
      m = {
        t,
        seg: r.u8(),
        round: r.u32(),
        count: r.u32(),
        digest: r.raw(digestLength(r)).slice(),
      };
      break;
    case "in_sync":
    case "want_all":
    case "done":
      m = { t, seg: r.u8(), round: r.u32() };
      break;
    case "sketch_req":
      m = { t, seg: r.u8(), round: r.u32(), log: r.u8() };
      break;
    case "sketch":
      m = { t, seg: r.u8(), round: r.u32(), cells: r.bytes(MAX_SKETCH_BYTES).slice() };
      break;
    case "want":
      m = { t, seg: r.u8(), round: r.u32(), ids: readIds(r) };
      break;
    case "records": {
      const seg = r.u8();
      const round = r.u32();
      const n = r.u16();
      if (n > MAX_RECORDS_PER_MESSAGE) throw new WireError(`${n} records in one message`);
      const entries: Uint8Array[] = [];
      for (let i = 0; i < n; i++) entries.push(r.bytes(MAX_ENTRY_WIRE_BYTES).slice());
      m = { t, seg, round, entries };
      break;
    }
    case "ids": {
      const seg = r.u8();
      const round = r.u32();
      const last = r.u8();
      if (last > 1) throw new WireError("ids message has a bad flag");
      m = { t, seg, round, last: last === 1, ids: readIds(r) };
      break;
    }
    case "nar_req":
      m = { t, req: r.u32(), seg: r.u8(), key: r.str(96), from: r.u32() };
      break;
    case "nar_manifest": {
      const req = r.u32();
      const narSize = r.u64();
      const total = r.u32();
      const from = r.u32();
      const n = r.u32();
      if (n > MAX_MANIFEST_CHUNKS) throw new WireError(`${n} chunks in one manifest message`);
      if (r.remaining < n * 36) throw new WireError("manifest ends early");
      const chunks: ManifestChunk[] = [];
      for (let i = 0; i < n; i++) chunks.push({ id: r.raw(32).slice(), ulen: r.u32() });
      m = { t, req, narSize, total, from, chunks };
      break;
    }
    case "chunk_req":
      m = { t, req: r.u32(), seg: r.u8(), key: r.str(96), index: r.u32(), id: r.raw(32).slice() };
      break;
    case "chunk":
      m = { t, req: r.u32(), method: r.u8(), data: r.bytes(MAX_CHUNK_BYTES) };
      break;
    case "nar_err": {
      const req = r.u32();
      const error = NAR_ERRORS[r.u8()];
      if (!error) throw new WireError("nar_err with an unknown reason");
      m = { t, req, error };
      break;
    }
  }
  r.end();
  return m;
}
