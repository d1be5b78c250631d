/**
 * Signing keys in Nix's format (libutil signature/local-keys): a secret key
 * is `name:base64(seed || public)` (64 bytes), a public key `name:base64(32
 * bytes)`; ed25519 throughout. Keys are found by name when verifying.
 */

export interface SecretKey {
  name: string;
  /** The 32-byte ed25519 seed (libsodium's secret key is seed || public). */
  seed: Uint8Array;
  /** The 32-byte public key derived from `seed`. */
  publicKey: Uint8Array;
}

export interface PublicKey {
  name: string;
  key: Uint8Array;
}

/** A key that cannot be read or made; the message never includes secret material. */
export class KeyError extends SyntaxError {
  override name = "KeyError";
}

/** Throws `KeyError` unless `name` is non-empty and has no ':' or whitespace. */
export function checkKeyName(name: string, what: string): void {
  if (name === "") throw new KeyError(`Invalid ${what}: missing key name (expected NAME:BASE64)`);
  if (/[:\s]/.test(name)) {
    throw new KeyError(
      `Invalid ${what}: key name ${JSON.stringify(name)} must not contain ':' or whitespace`,
    );
  }
}
