/**
 * Prints a hash the way Nix does (`Hash::to_string`): `algo:<digest>` in
 * nix32 (Nix's default in narinfo), base16 or base64, or SRI `algo-<base64>`.
 *
 * @example
 * ```ts
 * import { formatHash } from "./format_hash.ts";
 * const s = formatHash({ algo: "sha1", digest: new Uint8Array(20) }, "base16");
 * if (s !== "sha1:" + "0".repeat(40)) throw new Error(s);
 * ```
 */
import { encodeBase64 } from "../encoding/base64.ts";
import { encodeHex } from "../encoding/hex.ts";
import { encodeNix32 } from "../encoding/nix32.ts";
import type { Hash } from "./hash.ts";

/** The text forms `formatHash` can print. */
export type HashForm = "nix32" | "base16" | "base64" | "sri";

/** Prints `h` in the given form (default nix32). */
export function formatHash(h: Hash, form: HashForm = "nix32"): string {
  switch (form) {
    case "nix32":
      return `${h.algo}:${encodeNix32(h.digest)}`;
    case "base16":
      return `${h.algo}:${encodeHex(h.digest)}`;
    case "base64":
      return `${h.algo}:${encodeBase64(h.digest)}`;
    case "sri":
      return `${h.algo}-${encodeBase64(h.digest)}`;
  }
}
