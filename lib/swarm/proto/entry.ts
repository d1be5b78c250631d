/**
 * One replicated narinfo record of a segment, and the rules that make a
 * segment's records a state-based CRDT (a join semilattice: merging is
 * commutative, associative and idempotent, so peers converge whatever order
 * and however often they exchange states).
 *
 * An entry is keyed by its store path and what its signatures cover (NarHash,
 * NarSize, references): two builds of one path with different contents are
 * two entries. Merging two states of one entry:
 * - `sigs`: union (only signatures that verified against the segment's
 *   trusted keys are ever kept, so the union is bounded by those keys;
 *   `MAX_SIGS` guards it anyway, keeping the smallest);
 * - `deriver`, `ca` (not covered by signatures): the smallest value seen;
 * - `holders`: one register per node, written only by that node: the higher
 *   clock wins, and at equal clocks "gone" wins. Beyond `MAX_HOLDERS` the
 *   holders with the smallest node keys are kept (still a join).
 *
 * **Removal rule**: gc on a node never deletes a record, it marks that node
 * as no longer holding it (a newer clock). A record is live (served, counted)
 * while any holder is live. So gc on one node loses nothing that others hold,
 * and a stale copy of the old state, arriving later from anywhere, loses to
 * the newer clock: nothing comes back. A node that sees a newer claim about
 * itself than it made (a forgery, or its own state lost) answers it with a
 * newer register of its own.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { encodeHex } from "../../encoding/mod.ts";
import { Reader, WireError, Writer } from "./bytes.ts";
import type { Id } from "../reconcile/mod.ts";

export const MAX_REFERENCES = 4096;
export const MAX_SIGS = 16;
export const MAX_HOLDERS = 64;
/** Encoded entries stay under Deno KV's 64 KiB value limit. */
export const MAX_ENTRY_BYTES = 60 * 1024;
const VERSION = 1;

/** One node's claim about holding the path's NAR. */
export interface Holder {
  /** The node's static public key (32 bytes). */
  node: Uint8Array;
  /** That node's clock when it made the claim (ms, strictly increasing per node). */
  clock: number;
  live: boolean;
}

export interface Entry {
  /** Full store path. */
  storePath: string;
  /** sha256 digest of the NAR (32 bytes). */
  narHash: Uint8Array;
  narSize: number;
  /** Basenames, sorted, unique. */
  references: string[];
  deriver?: string;
  ca?: string;
  /** `name:base64`, sorted, unique. */
  sigs: string[];
  /** Sorted by node key, unique. */
  holders: Holder[];
}

/** The canonical encoding: equal states encode to equal bytes. */
export function encodeEntry(e: Entry): Uint8Array {
  const w = new Writer(512);
  w.u8(VERSION).str(e.storePath).raw(e.narHash).u64(e.narSize);
  w.u16(e.references.length);
  for (const r of e.references) w.str(r);
  w.u8((e.deriver !== undefined ? 1 : 0) | (e.ca !== undefined ? 2 : 0));
  if (e.deriver !== undefined) w.str(e.deriver);
  if (e.ca !== undefined) w.str(e.ca);
  w.u8(e.sigs.length);
  for (const s of e.sigs) w.str(s);
  w.u8(e.holders.length);
  for (const h of e.holders) w.raw(h.node).u64(h.clock).u8(h.live ? 1 : 0);
  return w.finish();
}

/**
 * Decodes an entry, refusing anything a canonical encoding would not be
 * (unsorted or repeated lists, over the limits, trailing bytes): so every
 * accepted state has exactly one encoding, and one element id.
 */
export function decodeEntry(b: Uint8Array): Entry {
  if (b.length > MAX_ENTRY_BYTES) throw new WireError(`entry of ${b.length} bytes is too large`);
  const r = new Reader(b, "entry");
  if (r.u8() !== VERSION) throw new WireError("entry has an unknown version");
  const storePath = r.str(1024);
  const narHash = r.raw(32).slice();
  const narSize = r.u64();
  if (narSize === 0) throw new WireError("entry has NarSize 0");
  const nrefs = r.u16();
  if (nrefs > MAX_REFERENCES) throw new WireError(`entry has ${nrefs} references`);
  const references: string[] = [];
  for (let i = 0; i < nrefs; i++) references.push(r.str(256));
  ascending(references, "references");
  const flags = r.u8();
  if (flags & ~3) throw new WireError("entry has unknown flags");
  const deriver = flags & 1 ? r.str(256) : undefined;
  const ca = flags & 2 ? r.str(1024) : undefined;
  const nsigs = r.u8();
  if (nsigs > MAX_SIGS) throw new WireError(`entry has ${nsigs} signatures`);
  const sigs: string[] = [];
  for (let i = 0; i < nsigs; i++) sigs.push(r.str(256));
  ascending(sigs, "signatures");
  const nh = r.u8();
  if (nh > MAX_HOLDERS) throw new WireError(`entry has ${nh} holders`);
  const holders: Holder[] = [];
  for (let i = 0; i < nh; i++) {
    const node = r.raw(32).slice();
    const clock = r.u64();
    const live = r.u8();
    if (live > 1) throw new WireError("entry holder has a bad flag");
    if (i > 0 && compareBytes(holders[i - 1].node, node) >= 0) {
      throw new WireError("entry holders are not sorted and unique");
    }
    holders.push({ node, clock, live: live === 1 });
  }
  r.end();
  const e: Entry = { storePath, narHash, narSize, references, sigs, holders };
  if (deriver !== undefined) e.deriver = deriver;
  if (ca !== undefined) e.ca = ca;
  return e;
}

function ascending(xs: string[], what: string): void {
  for (let i = 1; i < xs.length; i++) {
    if (!(xs[i - 1] < xs[i])) throw new WireError(`entry ${what} are not sorted and unique`);
  }
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * The key of an entry within a segment: its store path's hash part and a
 * digest of what the signatures cover, e.g. `<32 chars>-<16 hex>`.
 */
export function entryKey(e: Pick<Entry, "storePath" | "narHash" | "narSize" | "references">) {
  const base = e.storePath.slice(e.storePath.lastIndexOf("/") + 1);
  const h = createHash("sha256").update(e.storePath).update("\0").update(e.narHash)
    .update(`\0${e.narSize}\0${[...new Set(e.references)].sort().join(" ")}`).digest();
  return `${base.slice(0, 32)}-${encodeHex(h.subarray(0, 8))}`;
}

/** The reconciliation element id of an entry's state: 8 bytes of the encoding's SHA-256. */
export function elementId(encoded: Uint8Array): Id {
  const d = createHash("sha256").update(encoded).digest();
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
}

/** True while some node says it holds the NAR. */
export function isLive(e: Entry): boolean {
  return e.holders.some((h) => h.live);
}

/** The join of two states of the same entry (same `entryKey`). */
export function mergeEntries(a: Entry, b: Entry): Entry {
  const out: Entry = {
    storePath: a.storePath,
    narHash: a.narHash,
    narSize: a.narSize,
    references: a.references,
    sigs: [...new Set([...a.sigs, ...b.sigs])].sort().slice(0, MAX_SIGS),
    holders: mergeHolders(a.holders, b.holders),
  };
  const deriver = smallest(a.deriver, b.deriver);
  const ca = smallest(a.ca, b.ca);
  if (deriver !== undefined) out.deriver = deriver;
  if (ca !== undefined) out.ca = ca;
  return out;
}

function smallest(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

function mergeHolders(a: Holder[], b: Holder[]): Holder[] {
  const out: Holder[] = [];
  let i = 0, j = 0;
  while ((i < a.length || j < b.length) && out.length < MAX_HOLDERS) {
    const c = i >= a.length ? 1 : j >= b.length ? -1 : compareBytes(a[i].node, b[j].node);
    if (c < 0) out.push(a[i++]);
    else if (c > 0) out.push(b[j++]);
    else out.push(newer(a[i++], b[j++]));
  }
  return out;
}

function newer(x: Holder, y: Holder): Holder {
  if (x.clock !== y.clock) return x.clock > y.clock ? x : y;
  return x.live ? y : x;
}

/** `e` with `node`'s register set (it must be newer than what `e` has for it). */
export function withHolder(e: Entry, node: Uint8Array, clock: number, live: boolean): Entry {
  return mergeEntries(e, { ...e, sigs: [], holders: [{ node, clock, live }] });
}

/** `node`'s register in `e`, if any. */
export function holderOf(e: Entry, node: Uint8Array): Holder | undefined {
  return e.holders.find((h) => compareBytes(h.node, node) === 0);
}

/** Two encodings, two states: same bytes, same state. */
export function sameState(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}
