/**
 * What a segment's topic key turns into. The key itself never goes on the
 * wire: each use gets its own key derived with HKDF-SHA256 and a label, so
 * the public topic id cannot be linked to other uses of the same key, and
 * knowing one derived value (the id, seen by anyone on the network) reveals
 * nothing about the others.
 *
 * | label | use |
 * |---|---|
 * | `arca/1 topic id` | 16 bytes in every announce and handshake: which segment |
 * | `arca/1 noise psk` | the Noise `psk3` key: completing a handshake proves membership |
 * | `arca/1 announce mac` | HMAC key of announces: outsiders cannot forge them |
 * | `arca/1 member tag` | HMAC key of the per-link proofs of further shared segments |
 *
 * @module
 */
import { createHash, createHmac, hkdfSync } from "node:crypto";
import { decodeHex } from "../../encoding/mod.ts";

export interface TopicKeys {
  /** 16 bytes: the segment's public name on the wire. */
  id: Uint8Array;
  psk: Uint8Array;
  announceKey: Uint8Array;
  memberKey: Uint8Array;
}

const SALT = new TextEncoder().encode("arca swarm");

function derive(key: Uint8Array, label: string, n: number): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", key, SALT, label, n));
}

/**
 * Derives a segment's keys from its 32-byte topic key (64 hex characters).
 *
 * @example
 * ```ts
 * import { deriveTopic } from "./topic.ts";
 * import assert from "node:assert/strict";
 * const t = deriveTopic("11".repeat(32));
 * assert.equal(t.id.length, 16);
 * assert.notDeepEqual(t.psk, t.announceKey);
 * ```
 */
export function deriveTopic(topicKeyHex: string): TopicKeys {
  const key = decodeHex(topicKeyHex);
  if (key.length !== 32) throw new RangeError("a topic key is 32 bytes (64 hex characters)");
  return {
    id: derive(key, "arca/1 topic id", 16),
    psk: derive(key, "arca/1 noise psk", 32),
    announceKey: derive(key, "arca/1 announce mac", 32),
    memberKey: derive(key, "arca/1 member tag", 32),
  };
}

/**
 * The topic key of an ad-hoc segment named by a string (`arca swarm
 * --topic`). Anyone who can guess the string can join: private segments
 * should use a random key from `arca keygen`.
 */
export function topicKeyFromString(topic: string): string {
  return createHash("sha256").update(`arca topic: ${topic}`).digest("hex");
}

/** HMAC-SHA256 of `parts`, truncated to `n` bytes. */
export function mac(key: Uint8Array, n: number, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest().subarray(0, n));
}
