/**
 * The `25519` DH functions on node:crypto. It only takes keys as DER, so raw 32-byte keys are
 * wrapped in the fixed PKCS#8 / SubjectPublicKeyInfo prefixes of RFC 8410 (id-X25519, 1.3.101.110).
 */
import { Buffer } from "node:buffer";
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { DH_LEN } from "./limits.ts";
import { NoiseError } from "./noise_error.ts";

/** An X25519 key pair, both keys raw 32 bytes. */
export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

const PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e];
const PKCS8_KEY = [0x04, 0x22, 0x04, 0x20]; // OCTET STRING { OCTET STRING (32 bytes) }
const SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00];

function checkLength(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== DH_LEN) {
    throw new NoiseError(`Invalid X25519 ${what}: expected ${DH_LEN} bytes`);
  }
}

function privateKeyObject(raw: Uint8Array): KeyObject {
  const der = Buffer.from([...PKCS8_PREFIX, ...PKCS8_KEY, ...raw]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: Buffer.from([...SPKI_PREFIX, ...raw]),
    format: "der",
    type: "spki",
  });
}

/** The key pair of a raw 32-byte private key (any 32 bytes are one: X25519 clamps them). */
export function keyPairFromPrivate(privateKey: Uint8Array): KeyPair {
  checkLength(privateKey, "private key");
  const spki = createPublicKey(privateKeyObject(privateKey)).export({
    format: "der",
    type: "spki",
  });
  return {
    publicKey: new Uint8Array(spki.subarray(spki.length - DH_LEN)),
    privateKey: privateKey.slice(),
  };
}

/** A fresh random key pair (GENERATE_KEYPAIR). */
export function generateKeyPair(): KeyPair {
  return keyPairFromPrivate(new Uint8Array(randomBytes(DH_LEN)));
}

/**
 * DH(private, public): the 32-byte shared secret. A public key of small order (one whose result
 * would be all zeros) makes node:crypto refuse; that is reported as a NoiseError, which the spec
 * allows in place of returning zeros.
 */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkLength(publicKey, "public key");
  let out: Uint8Array;
  try {
    out = diffieHellman({
      privateKey: privateKeyObject(privateKey),
      publicKey: publicKeyObject(publicKey),
    });
  } catch (e) {
    throw new NoiseError("X25519 failed: the peer's public key is invalid", { cause: e });
  }
  if (out.every((b) => b === 0)) {
    throw new NoiseError("X25519 failed: the peer's public key is of small order");
  }
  return new Uint8Array(out);
}
