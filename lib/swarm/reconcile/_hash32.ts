/**
 * MurmurHash3_x86_32 (Austin Appleby's public-domain hash) of one element id, read as the 8-byte
 * little-endian encoding of the u64 `hi * 2^32 + lo` (so the `lo` word is the first block).
 * Every index and check value in the reconciliation protocol is this function with a different
 * seed, so another implementation only needs a standard Murmur3 and the seeds in `sketch.ts`.
 * Murmur3's finaliser mixes every input bit into every output bit, which is what lets a cell
 * index be the low `log` bits of the result (folding needs exactly that).
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** One Murmur3 body round: mixes the 32-bit block `k` into the state `h`. */
function round(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** The 32-bit Murmur3 hash (unsigned) of the id `(hi, lo)` with `seed`. */
export function hash32(hi: number, lo: number, seed: number): number {
  let h = round(round(seed, lo), hi) ^ 8; // 8 = the input length in bytes
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
