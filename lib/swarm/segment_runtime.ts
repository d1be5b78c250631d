/**
 * A configured segment, ready for the swarm: its derived keys, its trusted
 * keys parsed, and which local paths it takes.
 *
 * @module
 */
import type { Segment, SegmentFilter } from "../config/segments.ts";
import { parsePublicKey, type PublicKey, verifyNarinfo } from "../sign/mod.ts";
import { deriveTopic, type TopicKeys } from "./proto/topic.ts";
import type { LocalPath } from "./ports.ts";
import type { Hash } from "../hash/mod.ts";

export interface SegmentRuntime {
  name: string;
  description: string;
  filter: SegmentFilter;
  keys: TopicKeys;
  /** Signatures by these make a replicated narinfo acceptable here. */
  trusted: PublicKey[];
}

/**
 * `ownKeys` are the public halves of this node's signing keys: the trusted
 * keys of a segment that lists none.
 */
export function segmentRuntime(s: Segment, ownKeys: PublicKey[]): SegmentRuntime {
  return {
    name: s.name,
    description: s.description,
    filter: s.filter,
    keys: deriveTopic(s.topic_key),
    trusted: s.trusted_public_keys.length
      ? s.trusted_public_keys.map((k) => parsePublicKey(k))
      : ownKeys,
  };
}

/** The narinfo fields a signature covers, as `verifyNarinfo` takes them. */
export function signedView(
  p: Pick<LocalPath, "storePath" | "narHash" | "narSize" | "references">,
  sigs: string[],
) {
  const narHash: Hash = { algo: "sha256", digest: p.narHash };
  return {
    storePath: p.storePath,
    narHash,
    narSize: p.narSize,
    references: p.references,
    sigs,
    url: "",
    compression: "none",
  };
}

/** The signatures of `p` that verify against `keys`. */
export function validSigs(
  p: Pick<LocalPath, "storePath" | "narHash" | "narSize" | "references">,
  sigs: string[],
  keys: PublicKey[],
  storeDir: string,
): string[] {
  const names = new Set(keys.map((k) => k.name));
  return sigs.filter((s) =>
    names.has(s.slice(0, s.indexOf(":"))) && verifyNarinfo(signedView(p, [s]), keys, storeDir)
  );
}

/**
 * Which segments a local path is shared on: those picked at import, or
 * else every segment whose filter takes it. `isNixpkgs` is asked at most once.
 */
export function routePath(
  p: LocalPath,
  segments: SegmentRuntime[],
  isNixpkgs: () => boolean,
): SegmentRuntime[] {
  if (p.segments) return segments.filter((s) => p.segments!.includes(s.name));
  let nixpkgs: boolean | undefined;
  const nix = () => nixpkgs ??= isNixpkgs();
  return segments.filter((s) => s.filter === "all" || (s.filter === "nixpkgs" ? nix() : !nix()));
}
