/** Lowercase base16, as Nix prints it. */

const DIGITS = "0123456789abcdef";

export function encodeHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += DIGITS[b >> 4] + DIGITS[b & 15];
  return s;
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
