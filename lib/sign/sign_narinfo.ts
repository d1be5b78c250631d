/**
 * Signing and checking narinfos: the signature covers the fingerprint
 * (`fingerprint.ts`), not the URL or compression, so a cache may re-store a
 * NAR in its own form without re-signing.
 *
 * @example
 * ```ts
 * import { generateSecretKey, publicKeyOf } from "./secret_key.ts";
 * import { signNarinfo, verifyNarinfo } from "./sign_narinfo.ts";
 * const k = generateSecretKey("k1", new Uint8Array(32).fill(3));
 * const info = signNarinfo({
 *   storePath: "/nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib",
 *   url: "nar/a.nar", compression: "none",
 *   narHash: { algo: "sha256", digest: new Uint8Array(32) }, narSize: 8,
 *   references: [], sigs: ["other:AAAA"],
 * }, k);
 * if (info.sigs.length !== 2 || !verifyNarinfo(info, [publicKeyOf(k)])) throw new Error("sign");
 * ```
 */
import { fingerprint } from "../narinfo/fingerprint.ts";
import type { NarInfo } from "../narinfo/narinfo.ts";
import type { PathMeta } from "../narinfo/path_meta.ts";
import type { PublicKey, SecretKey } from "./keys.ts";
import { signMessage, verifyMessage } from "./sign_message.ts";

/**
 * Returns a copy of `info` with a signature by `k`. An earlier signature by a
 * key of the same name is replaced; other keys' signatures stay (key
 * rotation). Sigs come out sorted, the order Nix writes them. Throws
 * `RangeError` when NarHash is not sha256 (see `fingerprint`).
 */
export function signNarinfo(
  info: NarInfo,
  k: SecretKey,
  storeDir?: string,
): NarInfo {
  const sig = signMessage(k, fingerprint(info, storeDir));
  const others = info.sigs.filter((s) => !s.startsWith(`${k.name}:`));
  return { ...info, references: [...info.references], sigs: [...others, sig].sort() };
}

/** True if any of the narinfo's signatures verifies under `keys`. Never throws. */
export function verifyNarinfo(
  info: NarInfo | PathMeta,
  keys: PublicKey[],
  storeDir?: string,
): boolean {
  let fp: string;
  try {
    fp = fingerprint(info, storeDir);
  } catch {
    return false;
  }
  return info.sigs.some((s) => verifyMessage(keys, fp, s));
}
