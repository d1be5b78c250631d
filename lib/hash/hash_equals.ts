/** Equality of two hashes: same algorithm and same digest bytes. */
import type { Hash } from "./hash.ts";

export function hashEquals(a: Hash, b: Hash): boolean {
  if (a.algo !== b.algo || a.digest.length !== b.digest.length) return false;
  for (let i = 0; i < a.digest.length; i++) if (a.digest[i] !== b.digest[i]) return false;
  return true;
}
