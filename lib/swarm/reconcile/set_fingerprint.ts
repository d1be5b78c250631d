/**
 * A fixed-size, order-independent summary of a set of element ids, kept up to date in O(1) per
 * change. Peers compare fingerprints before anything else: equal means in sync with overwhelming
 * probability, and costs 24 bytes instead of a sketch.
 *
 * Digest = XOR of the ids (64 bits) and the sum mod 2^64 of a second, non-linear mix of each id
 * (two Murmur3 words, FINGERPRINT_SEEDS). XOR alone would miss differences whose ids happen to
 * XOR to zero; the sum of hashes is independent of it, so both must collide at once.
 */
import { hash32 } from "./_hash32.ts";

/** Murmur3 seeds of the summed mix: high word "ARF1", low word "ARF0" in ASCII. */
export const FINGERPRINT_SEEDS: readonly [hi: number, lo: number] = [0x41524631, 0x41524630];

const TWO_32 = 2 ** 32;

/** Count plus 16-byte digest of a set of ids. */
export class SetFingerprint {
  /** Wire size: count (u64), XOR (u64), sum (u64), little-endian. */
  static readonly BYTES = 24;

  #count = 0;
  #xorHi = 0;
  #xorLo = 0;
  #sumHi = 0;
  #sumLo = 0;

  /** Number of ids in the set. */
  get count(): number {
    return this.#count;
  }

  /** Adds id `(hi, lo)`. */
  add(hi: number, lo: number): void {
    hi >>>= 0;
    lo >>>= 0;
    this.#count++;
    this.#xorHi = (this.#xorHi ^ hi) >>> 0;
    this.#xorLo = (this.#xorLo ^ lo) >>> 0;
    const low = this.#sumLo + hash32(hi, lo, FINGERPRINT_SEEDS[1]);
    this.#sumLo = low >>> 0;
    this.#sumHi = (this.#sumHi + hash32(hi, lo, FINGERPRINT_SEEDS[0]) + (low >= TWO_32 ? 1 : 0)) >>>
      0;
  }

  /** Removes id `(hi, lo)`, which must have been added: the inverse of `add`. */
  remove(hi: number, lo: number): void {
    if (this.#count === 0) throw new RangeError("Cannot remove an id from an empty fingerprint");
    hi >>>= 0;
    lo >>>= 0;
    this.#count--;
    this.#xorHi = (this.#xorHi ^ hi) >>> 0;
    this.#xorLo = (this.#xorLo ^ lo) >>> 0;
    const low = this.#sumLo - hash32(hi, lo, FINGERPRINT_SEEDS[1]);
    this.#sumLo = low >>> 0;
    this.#sumHi = (this.#sumHi - hash32(hi, lo, FINGERPRINT_SEEDS[0]) - (low < 0 ? 1 : 0)) >>> 0;
  }

  /** True when both summarise the same set (up to a ~2^-128 chance of a collision). */
  equals(other: SetFingerprint): boolean {
    return this.#count === other.#count && this.#xorHi === other.#xorHi &&
      this.#xorLo === other.#xorLo && this.#sumHi === other.#sumHi && this.#sumLo === other.#sumLo;
  }

  /** The 24-byte wire form. */
  encode(): Uint8Array {
    const out = new Uint8Array(SetFingerprint.BYTES);
    const v = new DataView(out.buffer);
    v.setUint32(0, this.#count % TWO_32, true);
    v.setUint32(4, Math.floor(this.#count / TWO_32), true);
    v.setUint32(8, this.#xorLo, true);
    v.setUint32(12, this.#xorHi, true);
    v.setUint32(16, this.#sumLo, true);
    v.setUint32(20, this.#sumHi, true);
    return out;
  }

  /** Reads a fingerprint from a peer (RangeError unless 24 bytes with a safe-integer count). */
  static decode(bytes: Uint8Array): SetFingerprint {
    if (bytes.length !== SetFingerprint.BYTES) {
      throw new RangeError(
        `Cannot decode set fingerprint: expected ${SetFingerprint.BYTES} bytes, got ${bytes.length}`,
      );
    }
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const count = v.getUint32(4, true) * TWO_32 + v.getUint32(0, true);
    if (!Number.isSafeInteger(count)) {
      throw new RangeError(`Cannot decode set fingerprint: count ${count} is too large`);
    }
    const out = new SetFingerprint();
    out.#count = count;
    out.#xorLo = v.getUint32(8, true);
    out.#xorHi = v.getUint32(12, true);
    out.#sumLo = v.getUint32(16, true);
    out.#sumHi = v.getUint32(20, true);
    return out;
  }
}
