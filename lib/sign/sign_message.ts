/**
 * Detached ed25519 signatures written `keyname:base64(64 bytes)`, as Nix's
 * `SecretKey::signDetached` / `verifyDetached` do.
 *
 * @example
 * ```ts
 * import { generateSecretKey, publicKeyOf } from "./secret_key.ts";
 * import { signMessage, verifyMessage } from "./sign_message.ts";
 * const k = generateSecretKey("k1", new Uint8Array(32).fill(9));
 * const sig = signMessage(k, "hello");
 * if (!verifyMessage([publicKeyOf(k)], "hello", sig)) throw new Error("verify");
 * if (verifyMessage([publicKeyOf(k)], "hullo", sig)) throw new Error("forged");
 * ```
 */
import { decodeBase64, encodeBase64 } from "../encoding/base64.ts";
import { signBytes, verifyBytes } from "./_ed25519.ts";
import type { PublicKey, SecretKey } from "./keys.ts";

const encoder = new TextEncoder();

/** Signs the UTF-8 bytes of `message`; returns `name:base64(sig)`. */
export function signMessage(k: SecretKey, message: string): string {
  return `${k.name}:${encodeBase64(signBytes(k.seed, encoder.encode(message)))}`;
}

/**
 * True when `sig` names a key in `keys` and verifies under it. A malformed
 * signature or an unknown name gives false; this never throws.
 */
export function verifyMessage(keys: PublicKey[], message: string, sig: string): boolean {
  const colon = sig.indexOf(":");
  if (colon <= 0) return false;
  const name = sig.slice(0, colon);
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(sig.slice(colon + 1));
  } catch {
    return false;
  }
  if (bytes.length !== 64) return false;
  const data = encoder.encode(message);
  return keys.some((k) => k.name === name && verifyBytes(k.key, data, bytes));
}
