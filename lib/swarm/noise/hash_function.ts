/**
 * The hash functions of a Noise protocol (spec sections 4.3, 12.5, 12.7): HASH, and HMAC-HASH and
 * HKDF built on it exactly as the spec defines them. HMAC is spelled out here (RFC 2104 with
 * BLOCKLEN 64) rather than taken from node:crypto so that its block length is the spec's, visibly,
 * for both hashes.
 */
import { createHash } from "node:crypto";

/** One of the hash name sections this module supports. */
export type HashName = "SHA256" | "BLAKE2s";

/** HASH, HMAC-HASH and HKDF for one hash function; HASHLEN is 32 for both. */
export interface HashFunction {
  readonly name: HashName;
  /** HASH(parts[0] || parts[1] || ...). */
  hash(...parts: Uint8Array[]): Uint8Array;
  /** HMAC-HASH(key, parts[0] || parts[1] || ...). */
  hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  /** HKDF(chaining_key, input_key_material, n): two or three outputs of HASHLEN bytes. */
  hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, n: 2 | 3): Uint8Array[];
}

const BLOCK_LEN = 64; // both SHA-256 and BLAKE2s
const NODE_NAMES: Record<HashName, string> = { SHA256: "sha256", BLAKE2s: "blake2s256" };

function hashFunction(name: HashName): HashFunction {
  const algorithm = NODE_NAMES[name];
  const hash = (...parts: Uint8Array[]): Uint8Array => {
    const h = createHash(algorithm);
    for (const p of parts) h.update(p);
    return new Uint8Array(h.digest());
  };
  const hmac = (key: Uint8Array, ...parts: Uint8Array[]): Uint8Array => {
    // RFC 2104: a key longer than a block is hashed first, then zero-padded to the block.
    const k = new Uint8Array(BLOCK_LEN);
    k.set(key.length > BLOCK_LEN ? hash(key) : key);
    const inner = k.map((b) => b ^ 0x36);
    const outer = k.map((b) => b ^ 0x5c);
    return hash(outer, hash(inner, ...parts));
  };
  const hkdf = (ck: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] => {
    const tempKey = hmac(ck, ikm);
    const out1 = hmac(tempKey, Uint8Array.of(1));
    const out2 = hmac(tempKey, out1, Uint8Array.of(2));
    if (n === 2) return [out1, out2];
    return [out1, out2, hmac(tempKey, out2, Uint8Array.of(3))];
  };
  return { name, hash, hmac, hkdf };
}

/** The supported hash functions by their Noise names. */
export const HASH_FUNCTIONS: Readonly<Record<HashName, HashFunction>> = {
  SHA256: hashFunction("SHA256"),
  BLAKE2s: hashFunction("BLAKE2s"),
};
