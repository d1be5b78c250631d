/**
 * Checks a store path hash part: exactly 32 nix32 characters (160 bits, so no
 * spare bits to check). Cheap enough to run before any lookup.
 */
import { NIX32_ALPHABET } from "../encoding/nix32.ts";

/** Length of a store path hash part in characters. */
export const HASH_PART_LENGTH = 32;

// A lookup table by char code: this runs on every narinfo request.
const VALID = new Uint8Array(128);
for (const c of NIX32_ALPHABET) VALID[c.charCodeAt(0)] = 1;

export function isValidHashPart(s: string): boolean {
  if (s.length !== HASH_PART_LENGTH) return false;
  for (let i = 0; i < HASH_PART_LENGTH; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || VALID[c] === 0) return false;
  }
  return true;
}
