/**
 * Parses the hash spellings Nix accepts (`Hash::parseAnyPrefixed`/`parseAny`
 * in libutil hash.cc): `algo:<digest>` where the digest is nix32, base16 or
 * base64 told apart by length, SRI `algo-<base64>`, and a bare digest when
 * the caller names the algorithm.
 *
 * @example
 * ```ts
 * import { parseHash } from "./parse_hash.ts";
 * const h = parseHash("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
 * if (h.algo !== "sha256" || h.digest[0] !== 0xe3) throw new Error("parse");
 * ```
 */
import { decodeBase64 } from "../encoding/base64.ts";
import { decodeHex } from "../encoding/hex.ts";
import { decodeNix32, nix32Length } from "../encoding/nix32.ts";
import { type Hash, HASH_SIZES, type HashAlgo, isHashAlgo } from "./hash.ts";

/**
 * Parses a hash. With `algo`, a prefixed or SRI hash must name that same
 * algorithm and a bare digest is allowed. Throws `SyntaxError` saying what
 * is wrong.
 */
export function parseHash(s: string, algo?: HashAlgo): Hash {
  const colon = s.indexOf(":");
  const dash = s.indexOf("-");
  let named: string | undefined;
  let body: string;
  let sri = false;
  // No digest alphabet (nix32, base16, base64) contains ':' or '-', so the
  // first of them ends the algorithm name.
  if (colon >= 0 && (dash < 0 || colon < dash)) {
    named = s.slice(0, colon);
    body = s.slice(colon + 1);
  } else if (dash >= 0) {
    named = s.slice(0, dash);
    body = s.slice(dash + 1);
    sri = true;
  } else {
    body = s;
  }
  let a: HashAlgo;
  if (named !== undefined) {
    if (!isHashAlgo(named)) {
      throw new SyntaxError(`Invalid hash '${s}': unknown algorithm '${named}'`);
    }
    if (algo !== undefined && named !== algo) {
      throw new SyntaxError(`Invalid hash '${s}': expected a ${algo} hash, got ${named}`);
    }
    a = named;
  } else if (algo !== undefined) {
    a = algo;
  } else {
    throw new SyntaxError(`Invalid hash '${s}': missing algorithm prefix (like 'sha256:')`);
  }
  return { algo: a, digest: decodeDigest(s, a, body, sri) };
}

function decodeDigest(whole: string, algo: HashAlgo, body: string, sri: boolean): Uint8Array {
  const size = HASH_SIZES[algo];
  const b64 = 4 * Math.ceil(size / 3);
  try {
    if (sri) {
      if (body.length !== b64) throw new SyntaxError(`SRI digest must be ${b64} base64 characters`);
      return decodeBase64(body);
    }
    if (body.length === size * 2) return decodeHex(body);
    if (body.length === nix32Length(size)) return decodeNix32(body);
    if (body.length === b64) return decodeBase64(body);
  } catch (e) {
    throw new SyntaxError(`Invalid hash '${whole}': ${(e as Error).message}`);
  }
  throw new SyntaxError(
    `Invalid hash '${whole}': a ${algo} digest has ${nix32Length(size)} (nix32), ${
      size * 2
    } (base16) or ${b64} (base64) characters, not ${body.length}`,
  );
}
