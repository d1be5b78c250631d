/**
 * Test material for the swarm: signed entries, an in-memory entry store (the
 * twin of lib/kv/swarm_store.ts, for unit tests), and segments.
 */
import { encodeNix32 } from "../lib/encoding/mod.ts";
import { fingerprint } from "../lib/narinfo/mod.ts";
import { generateSecretKey, publicKeyOf, type SecretKey, signMessage } from "../lib/sign/mod.ts";
import type { Segment } from "../lib/config/segments.ts";
import { type SegmentRuntime, segmentRuntime } from "../lib/swarm/segment_runtime.ts";
import type { EntryStore, EntryWrite } from "../lib/swarm/ports.ts";
import type { AuditEvent } from "../lib/kv/records.ts";
import type { Entry } from "../lib/swarm/proto/entry.ts";

const HASH = "0123456789abcdfghijklmnpqrsvwxyz";

/** A valid hash part made from a number (distinct numbers, distinct parts). */
export function hashPartOf(n: number, salt = 0): string {
  let s = "";
  let x = (n * 2654435761 + salt * 40503 + 12345) >>> 0;
  let y = (n ^ (salt * 7919) ^ 0x5bd1e995) >>> 0;
  for (let i = 0; i < 32; i++) {
    const v = i < 16 ? x : y;
    s += HASH[(v >>> ((i % 6) * 5)) & 31];
    if (i % 6 === 5) {
      x = Math.imul(x ^ (x >>> 13), 0x85ebca6b) >>> 0;
      y = Math.imul(y ^ (y >>> 13), 0xc2b2ae35) >>> 0;
    }
  }
  return s;
}

export function testKey(name: string, byte = 1): SecretKey {
  return generateSecretKey(name, new Uint8Array(32).fill(byte));
}

/** A narinfo-like entry for path number `n`, signed by `key` (no holders yet). */
export function signedEntry(
  n: number,
  key: SecretKey,
  opts: { salt?: number; refs?: number; storeDir?: string } = {},
): Entry {
  const storeDir = opts.storeDir ?? "/nix/store";
  const storePath = `${storeDir}/${hashPartOf(n, opts.salt)}-path-${n}`;
  const narHash = new Uint8Array(32);
  new DataView(narHash.buffer).setUint32(0, n);
  narHash[31] = opts.salt ?? 0;
  const references = Array.from(
    { length: opts.refs ?? 2 },
    (_, i) => `${hashPartOf(n + 1_000_000 + i, opts.salt)}-dep-${i}`,
  ).sort();
  const narSize = 1000 + n;
  const fp = fingerprint({
    storePath,
    narHash: { algo: "sha256", digest: narHash },
    narSize,
    references,
  }, storeDir);
  return { storePath, narHash, narSize, references, sigs: [signMessage(key, fp)], holders: [] };
}

/** `signedEntry` as the local cache would list it. */
export function localPathOf(e: Entry) {
  return {
    hashPart: e.storePath.slice(
      e.storePath.lastIndexOf("/") + 1,
      e.storePath.lastIndexOf("/") + 33,
    ),
    storePath: e.storePath,
    narHash: e.narHash,
    narSize: e.narSize,
    references: e.references,
    sigs: e.sigs,
  };
}

export function narHash32(e: Entry): string {
  return encodeNix32(e.narHash);
}

export function testSegment(
  name: string,
  trusted: SecretKey[],
  filter: Segment["filter"] = "custom",
  topicByte = 0x11,
): SegmentRuntime {
  return segmentRuntime({
    name,
    topic_key: topicByte.toString(16).padStart(2, "0").repeat(32),
    description: "",
    filter,
    trusted_public_keys: [],
  }, trusted.map((k) => publicKeyOf(k)));
}

/** The in-memory twin of the KV entry store. */
export class MemEntryStore implements EntryStore {
  readonly data = new Map<string, Map<string, Uint8Array>>();
  readonly audit: AuditEvent[] = [];

  #seg(s: string): Map<string, Uint8Array> {
    let m = this.data.get(s);
    if (!m) this.data.set(s, m = new Map());
    return m;
  }

  async *list(segment: string): AsyncIterable<{ key: string; bytes: Uint8Array }> {
    for (const [key, bytes] of [...this.#seg(segment)].sort()) yield { key, bytes };
  }

  get(segment: string, keys: string[]): Promise<(Uint8Array | undefined)[]> {
    const m = this.#seg(segment);
    return Promise.resolve(keys.map((k) => m.get(k)));
  }

  put(segment: string, writes: EntryWrite[], audit: AuditEvent[]): Promise<void> {
    const m = this.#seg(segment);
    for (const w of writes) {
      if (w.bytes) m.set(w.key, w.bytes);
      else m.delete(w.key);
    }
    this.audit.push(...audit);
    return Promise.resolve();
  }
}
