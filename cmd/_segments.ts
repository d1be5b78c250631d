/** Segment wiring shared by `swarm`, `status`, `list` and `import --segment`. */
import type { Config } from "../lib/config/mod.ts";
import { decodeBase64 } from "../lib/encoding/mod.ts";
import { parsePublicKey, publicKeyOf } from "../lib/sign/mod.ts";
import { keyPairFromPrivate } from "../lib/swarm/noise/mod.ts";
import { type SegmentRuntime, segmentRuntime } from "../lib/swarm/segment_runtime.ts";
import type { Segment } from "../lib/config/segments.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { signingKeys } from "./_context.ts";

/** The node key file: `swarm_key_path`, or `<cache_dir>/swarm.key`. */
export function nodeKeyPath(config: Config): string {
  return config.swarm_key_path || `${config.cache_dir.replace(/\/+$/, "")}/swarm.key`;
}

/** The configured segments (or `segments`), ready for the swarm. */
export async function segmentRuntimes(
  config: Config,
  segments: Segment[] = config.segments,
): Promise<SegmentRuntime[]> {
  const own = (await signingKeys(config, [])).map((k) => publicKeyOf(k));
  return segments.map((s) => segmentRuntime(s, own));
}

export function nixpkgsKeys(config: Config) {
  return config.nixpkgs_keys.map((k) => parsePublicKey(k));
}

/** This node's public key if it has one (without making one). */
export async function existingNodeKey(config: Config): Promise<Uint8Array | undefined> {
  try {
    const t = (await Deno.readTextFile(nodeKeyPath(config))).trim();
    return keyPairFromPrivate(decodeBase64(t.slice(t.indexOf(":") + 1))).publicKey;
  } catch {
    return undefined;
  }
}

/** Checks `import --segment` names against the configuration. */
export function checkSegmentNames(config: Config, names: string[]): string[] {
  const known = config.segments.map((s) => s.name);
  for (const n of names) {
    if (!known.includes(n)) {
      throw new UsageError(
        `--segment ${n}: no such segment in the configuration (known: ${
          known.join(", ") || "none"
        })`,
      );
    }
  }
  return [...new Set(names)];
}
