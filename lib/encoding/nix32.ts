/**
 * Nix's base-32 ("nix32"), used for store path hash parts and for hashes in
 * narinfo files. It is not RFC 4648 base32: the alphabet omits `e o t u`, and
 * output character n, counted from the end of the string, holds the 5 bits
 * starting at bit 5n of the bytes taken as one little-endian number. Mirrors
 * `printHash32`/`parseHash32` in Nix's libutil (hash.cc).
 *
 * @example
 * ```ts
 * import { decodeNix32, encodeNix32 } from "./nix32.ts";
 * const s = encodeNix32(new Uint8Array(20).fill(255));
 * if (s !== "z".repeat(32)) throw new Error(s);
 * if (decodeNix32(s).length !== 20) throw new Error("length");
 * ```
 */

/** The 32 digits, in value order. */
export const NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";

const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < NIX32_ALPHABET.length; i++) VALUE[NIX32_ALPHABET.charCodeAt(i)] = i;

/** Number of nix32 characters that encode `bytes` bytes. */
export function nix32Length(bytes: number): number {
  return bytes === 0 ? 0 : Math.floor((bytes * 8 - 1) / 5) + 1;
}

/** Encodes bytes as nix32 (lowercase, no padding). */
export function encodeNix32(bytes: Uint8Array): string {
  const len = nix32Length(bytes.length);
  let s = "";
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const hi = i + 1 < bytes.length ? bytes[i + 1] << (8 - j) : 0;
    s += NIX32_ALPHABET[((bytes[i] >> j) | hi) & 31];
  }
  return s;
}

/**
 * Decodes nix32. Throws `SyntaxError` on a character outside the alphabet
 * (naming it and its position), on a length that no byte count encodes to,
 * and on set bits beyond the last byte (which would make two spellings of
 * one value).
 */
export function decodeNix32(s: string): Uint8Array {
  const size = Math.floor((s.length * 5) / 8);
  if (nix32Length(size) !== s.length) {
    throw new SyntaxError(
      `Invalid nix32: length ${s.length} does not encode a whole number of bytes`,
    );
  }
  const out = new Uint8Array(size);
  for (let n = 0; n < s.length; n++) {
    const pos = s.length - n - 1;
    const c = s.charCodeAt(pos);
    const digit = c < 128 ? VALUE[c] : -1;
    if (digit < 0) {
      throw new SyntaxError(`Invalid nix32: unexpected character '${s[pos]}' at position ${pos}`);
    }
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i] |= (digit << j) & 255;
    const carry = digit >> (8 - j);
    if (i + 1 < size) out[i + 1] |= carry;
    else if (carry !== 0) {
      throw new SyntaxError(`Invalid nix32: nonzero bits past the end at position ${pos}`);
    }
  }
  return out;
}
