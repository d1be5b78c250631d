/**
 * Public keys: `name:base64(32 bytes)`, the form `trusted-public-keys` lists.
 *
 * @example
 * ```ts
 * import { formatPublicKey, parsePublicKey } from "./public_key.ts";
 * const line = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
 * if (formatPublicKey(parsePublicKey(line)) !== line) throw new Error("round trip");
 * ```
 */
import { decodeBase64, encodeBase64 } from "../encoding/base64.ts";
import { checkKeyName, KeyError, type PublicKey } from "./keys.ts";

const WHAT = "public key";

/** Parses a public key, ignoring surrounding whitespace. Throws `KeyError`. */
export function parsePublicKey(text: string): PublicKey {
  const t = text.trim();
  const colon = t.indexOf(":");
  if (colon < 0) throw new KeyError(`Invalid ${WHAT}: missing key name (expected NAME:BASE64)`);
  const name = t.slice(0, colon);
  checkKeyName(name, WHAT);
  let key: Uint8Array;
  try {
    key = decodeBase64(t.slice(colon + 1));
  } catch (e) {
    throw new KeyError(`Invalid ${WHAT} '${name}': ${(e as Error).message}`);
  }
  if (key.length !== 32) {
    throw new KeyError(`Invalid ${WHAT} '${name}': expected 32 bytes, got ${key.length}`);
  }
  return { name, key };
}

/** Prints `name:base64(key)`, without a newline. */
export function formatPublicKey(k: PublicKey): string {
  return `${k.name}:${encodeBase64(k.key)}`;
}
