/**
 * The 256-entry gear table for FastCDC's rolling hash, generated from a fixed seed so that
 * every Arca (and every version of it) cuts the same data at the same places. Changing the seed
 * or the generator changes every chunk id: never do it.
 */

/** Seed of the generator; an arbitrary constant ("Arca" in ASCII, then a version byte). */
const SEED = 0x41726361;

/** Gear values: 256 pseudo-random 32-bit words from splitmix32 seeded with SEED. */
export const GEAR_TABLE: Uint32Array = makeGear(SEED);

function makeGear(seed: number): Uint32Array {
  const out = new Uint32Array(256);
  let s = seed >>> 0;
  for (let i = 0; i < 256; i++) {
    // splitmix32: a well-mixed full-period sequence, small enough to write out in full.
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    out[i] = (z ^ (z >>> 16)) >>> 0;
  }
  return out;
}
