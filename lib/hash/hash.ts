/**
 * The hash value type shared by narinfo, NAR and store code: an algorithm
 * name and its raw digest. Text forms live in `parse_hash.ts`/`format_hash.ts`.
 */

/** The algorithms Nix names in hashes (`md5:`, `sha1:`, `sha256:`, `sha512:`). */
export type HashAlgo = "md5" | "sha1" | "sha256" | "sha512";

/** A digest and the algorithm that made it. */
export interface Hash {
  algo: HashAlgo;
  digest: Uint8Array;
}

/** Digest size in bytes per algorithm. */
export const HASH_SIZES: Readonly<Record<HashAlgo, number>> = {
  md5: 16,
  sha1: 20,
  sha256: 32,
  sha512: 64,
};

/** True for the four algorithm names Nix knows. */
export function isHashAlgo(s: string): s is HashAlgo {
  return Object.hasOwn(HASH_SIZES, s);
}
