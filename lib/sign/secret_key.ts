/**
 * Secret keys: `name:base64(64 bytes = seed || public)`, the format of
 * `nix-store --generate-binary-cache-key` and of `secret-key-files`.
 *
 * @example
 * ```ts
 * import { formatSecretKey, generateSecretKey, parseSecretKey } from "./secret_key.ts";
 * const k = generateSecretKey("cache-1", new Uint8Array(32).fill(1));
 * const again = parseSecretKey(formatSecretKey(k) + "\n");
 * if (again.name !== "cache-1" || again.publicKey.length !== 32) throw new Error("round trip");
 * ```
 */
import { decodeBase64, encodeBase64 } from "../encoding/base64.ts";
import { publicFromSeed } from "./_ed25519.ts";
import { checkKeyName, KeyError, type PublicKey, type SecretKey } from "./keys.ts";

const WHAT = "secret key";

/** Makes a key from a name and 32 random bytes (the caller supplies the randomness). */
export function generateSecretKey(name: string, seed: Uint8Array): SecretKey {
  checkKeyName(name, WHAT);
  if (seed.length !== 32) {
    throw new KeyError(`Invalid ${WHAT} '${name}': seed must be 32 bytes, got ${seed.length}`);
  }
  const s = seed.slice();
  return { name, seed: s, publicKey: publicFromSeed(s) };
}

/**
 * Parses a secret key, ignoring surrounding whitespace (files end with a
 * newline). Checks that the public half belongs to the seed. Throws `KeyError`.
 */
export function parseSecretKey(text: string): SecretKey {
  const t = text.trim();
  const colon = t.indexOf(":");
  if (colon < 0) throw new KeyError(`Invalid ${WHAT}: missing key name (expected NAME:BASE64)`);
  const name = t.slice(0, colon);
  checkKeyName(name, WHAT);
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(t.slice(colon + 1));
  } catch {
    // The decoder's message would quote part of the secret.
    throw new KeyError(`Invalid ${WHAT} '${name}': the key is not valid base64`);
  }
  if (bytes.length !== 64) {
    throw new KeyError(`Invalid ${WHAT} '${name}': expected 64 bytes, got ${bytes.length}`);
  }
  const seed = bytes.slice(0, 32);
  const publicKey = publicFromSeed(seed);
  for (let i = 0; i < 32; i++) {
    if (publicKey[i] !== bytes[32 + i]) {
      throw new KeyError(`Invalid ${WHAT} '${name}': the public half does not match the seed`);
    }
  }
  return { name, seed, publicKey };
}

/** Prints `name:base64(seed || public)`, without a newline. */
export function formatSecretKey(k: SecretKey): string {
  const bytes = new Uint8Array(64);
  bytes.set(k.seed, 0);
  bytes.set(k.publicKey, 32);
  return `${k.name}:${encodeBase64(bytes)}`;
}

/** The public half, under the same name. */
export function publicKeyOf(k: SecretKey): PublicKey {
  return { name: k.name, key: k.publicKey.slice() };
}
