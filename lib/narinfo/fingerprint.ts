/**
 * The string a narinfo signature covers (`ValidPathInfo::fingerprint` in
 * libstore path-info.cc):
 * `1;<StorePath>;<NarHash as sha256:nix32>;<NarSize>;<references as full paths, sorted, comma-joined>`.
 * URL, Compression, FileHash and FileSize are not covered, so a cache may
 * recompress a NAR without re-signing.
 *
 * @example
 * ```ts
 * import { fingerprint } from "./fingerprint.ts";
 * const fp = fingerprint({
 *   storePath: "/nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib",
 *   narHash: { algo: "sha256", digest: new Uint8Array(32) },
 *   narSize: 8,
 *   references: ["149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib"],
 * });
 * if (!fp.endsWith(";8;/nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib")) throw new Error(fp);
 * ```
 */
import { formatHash } from "../hash/format_hash.ts";
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import type { NarInfo } from "./narinfo.ts";

/**
 * Builds the fingerprint. Throws `RangeError` when NarHash is not sha256 or
 * NarSize is not a positive integer (Nix refuses to sign those too).
 */
export function fingerprint(
  info: Pick<NarInfo, "storePath" | "narHash" | "narSize" | "references">,
  storeDir: string = DEFAULT_STORE_DIR,
): string {
  if (info.narHash.algo !== "sha256") {
    throw new RangeError(`Cannot compute fingerprint: NarHash is ${info.narHash.algo}, not sha256`);
  }
  if (!Number.isSafeInteger(info.narSize) || info.narSize <= 0) {
    throw new RangeError(`Cannot compute fingerprint: NarSize ${info.narSize} is not positive`);
  }
  // Nix keeps references in a set: duplicates collapse, order is byte order.
  const refs = [...new Set(info.references)].map((r) => `${storeDir}/${r}`).sort();
  return `1;${info.storePath};${formatHash(info.narHash)};${info.narSize};${refs.join(",")}`;
}
