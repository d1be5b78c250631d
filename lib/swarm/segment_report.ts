/**
 * What `arca status` and `arca list` say about segments, computed from the
 * configuration and the stored state, whether or not a swarm runs: which
 * local paths each segment takes (and whether they carry a signature it
 * trusts), and the peers' paths its replica knows.
 *
 * @module
 */
import type { PublicKey } from "../sign/mod.ts";
import { decodeEntry, holderOf, isLive } from "./proto/entry.ts";
import type { EntryStore, LocalPath, LocalPaths } from "./ports.ts";
import { routePath, type SegmentRuntime, validSigs } from "./segment_runtime.ts";

export interface SegmentReport {
  name: string;
  description: string;
  filter: string;
  /** Local paths routed here that carry a signature the segment trusts: offered to peers. */
  localPaths: number;
  localNarBytes: number;
  /** Local paths routed here without such a signature: not offered. */
  unsigned: number;
  /** Live paths known from peers and not held here. */
  peerPaths: number;
  peerNarBytes: number;
}

/** Which segments `p` is shared on (routed there and signed by a key each trusts). */
export function sharedOn(
  p: LocalPath,
  segments: SegmentRuntime[],
  nixpkgsKeys: PublicKey[],
  storeDir: string,
): { shared: SegmentRuntime[]; unsigned: SegmentRuntime[] } {
  const routed = routePath(
    p,
    segments,
    () => validSigs(p, p.sigs, nixpkgsKeys, storeDir).length > 0,
  );
  const shared: SegmentRuntime[] = [];
  const unsigned: SegmentRuntime[] = [];
  for (const s of routed) {
    (validSigs(p, p.sigs, s.trusted, storeDir).length ? shared : unsigned).push(s);
  }
  return { shared, unsigned };
}

export async function segmentReport(
  local: LocalPaths,
  entries: EntryStore,
  segments: SegmentRuntime[],
  opts: { nixpkgsKeys: PublicKey[]; storeDir: string; self?: Uint8Array },
): Promise<SegmentReport[]> {
  const out = new Map(segments.map((s) => [s, {
    name: s.name,
    description: s.description,
    filter: s.filter,
    localPaths: 0,
    localNarBytes: 0,
    unsigned: 0,
    peerPaths: 0,
    peerNarBytes: 0,
  }]));
  for await (const p of local.list()) {
    const { shared, unsigned } = sharedOn(p, segments, opts.nixpkgsKeys, opts.storeDir);
    for (const s of shared) {
      const r = out.get(s)!;
      r.localPaths++;
      r.localNarBytes += p.narSize;
    }
    for (const s of unsigned) out.get(s)!.unsigned++;
  }
  for (const s of segments) {
    const r = out.get(s)!;
    for await (const { bytes } of entries.list(s.name)) {
      let e;
      try {
        e = decodeEntry(bytes);
      } catch {
        continue;
      }
      if (!isLive(e) || (opts.self && holderOf(e, opts.self)?.live)) continue;
      r.peerPaths++;
      r.peerNarBytes += e.narSize;
    }
  }
  return [...out.values()];
}
