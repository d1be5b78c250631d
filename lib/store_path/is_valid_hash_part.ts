/**
 * Checks a store path hash part: exactly 32 nix32 characters (160 bits, so no
 * spare bits to check). Cheap enough to run before any lookup.
 */
import { NIX32_ALPHABET } from "../encoding/nix32.ts";

/** Length of a store path hash part in characters. */
export const HASH_PART_LENGTH = 32;

export function isValidHashPart(s: string): boolean {
  if (s.length !== HASH_PART_LENGTH) return false;
  for (let i = 0; i < s.length; i++) if (!NIX32_ALPHABET.includes(s[i])) return false;
  return true;
}
