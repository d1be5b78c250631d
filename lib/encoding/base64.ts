/**
 * Standard base64 (RFC 4648 section 4) with `=` padding, as Nix writes
 * signatures, keys and base64 hashes. Decoding is strict: no whitespace, no
 * URL-safe alphabet, no missing padding, no stray bits in the last digit, so
 * each value has exactly one spelling.
 *
 * @example
 * ```ts
 * import { decodeBase64, encodeBase64 } from "./base64.ts";
 * const s = encodeBase64(new TextEncoder().encode("nix"));
 * if (s !== "bml4") throw new Error(s);
 * if (decodeBase64(s).length !== 3) throw new Error("length");
 * ```
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

/** Encodes bytes as padded standard base64. */
export function encodeBase64(bytes: Uint8Array): string {
  let s = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    s += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    s += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + "==";
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    s += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + "=";
  }
  return s;
}

/** Decodes padded standard base64. Throws `SyntaxError` saying what is wrong and where. */
export function decodeBase64(s: string): Uint8Array {
  if (s.length % 4 !== 0) {
    throw new SyntaxError(`Invalid base64: length ${s.length} is not a multiple of 4`);
  }
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  const body = s.length - pad;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < body; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? VALUE[c] : -1;
    if (v < 0) {
      throw new SyntaxError(`Invalid base64: unexpected character '${s[i]}' at position ${i}`);
    }
    acc = (acc << 6) | v;
    if (i % 4 === 3) {
      out[o++] = acc >> 16;
      out[o++] = (acc >> 8) & 255;
      out[o++] = acc & 255;
      acc = 0;
    }
  }
  // The last group: 2 digits carry 1 byte (4 spare bits), 3 digits carry 2 (2 spare bits).
  if (pad === 2) {
    if ((acc & 15) !== 0) throw new SyntaxError(`Invalid base64: nonzero padding bits at the end`);
    out[o++] = acc >> 4;
  } else if (pad === 1) {
    if ((acc & 3) !== 0) throw new SyntaxError(`Invalid base64: nonzero padding bits at the end`);
    out[o++] = acc >> 10;
    out[o++] = (acc >> 2) & 255;
  }
  return out;
}
