/** Lowercase base16, as Nix prints it. */

const DIGITS = [..."0123456789abcdef"].map((c) => c.charCodeAt(0));
const PIECE = 4096;
/** Char code arrays by length, reused: a fresh (growing) array per call was most of the garbage. */
const scratch: number[][] = [];

/**
 * Builds one flat string from char codes: hex ids are Map keys on the
 * import path, where adding two characters at a time made ~60 MB of
 * short-lived strings per GB imported and was slower.
 */
export function encodeHex(bytes: Uint8Array): string {
  // Pieces bound the argument count of `apply` (long inputs are rare).
  if (bytes.length > PIECE) {
    let s = "";
    for (let o = 0; o < bytes.length; o += PIECE) s += encodeHex(bytes.subarray(o, o + PIECE));
    return s;
  }
  const codes = scratch[bytes.length] ??= new Array(2 * bytes.length).fill(0);
  for (let i = 0; i < bytes.length; i++) {
    codes[2 * i] = DIGITS[bytes[i] >> 4];
    codes[2 * i + 1] = DIGITS[bytes[i] & 15];
  }
  return String.fromCharCode.apply(null, codes);
}

/** Decodes base16 (either case). Throws `SyntaxError` naming the bad character. */
export function decodeHex(s: string): Uint8Array {
  if (s.length % 2 !== 0) throw new SyntaxError(`Invalid hex: odd length ${s.length}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(s, 2 * i);
    const lo = nibble(s, 2 * i + 1);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function nibble(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  throw new SyntaxError(`Invalid hex: unexpected character '${s[i]}' at position ${i}`);
}
