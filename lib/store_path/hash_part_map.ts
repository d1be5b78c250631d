/**
 * A map from store path hash parts to values, looked up by a hash part
 * inside a longer string (`/<hash>.narinfo`) without cutting it out. Keys
 * are the first six characters read as a 30-bit number: V8 hashes a number
 * for free but a freshly made string on every lookup, which cost ~4% of a
 * narinfo hit's CPU in `serve`. Values whose keys share those six characters
 * are chained, and every hit is checked on all 32 characters.
 */
import { NIX32_ALPHABET } from "../encoding/nix32.ts";
import { HASH_PART_LENGTH } from "./is_valid_hash_part.ts";

const PREFIX = 6;
// Characters outside the alphabet read as 0; the full comparison refuses them.
const DIGIT = new Uint8Array(128);
for (let i = 0; i < NIX32_ALPHABET.length; i++) DIGIT[NIX32_ALPHABET.charCodeAt(i)] = i;

function prefixKey(s: string, at: number): number {
  let k = 0;
  for (let i = at; i < at + PREFIX; i++) k = (k << 5) | DIGIT[s.charCodeAt(i) & 127];
  return k;
}

class Link<V> {
  constructor(readonly hashPart: string, public value: V, public next: Link<V> | undefined) {}
}

export class HashPartMap<V> {
  #chains = new Map<number, Link<V>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The value for the hash part `text[at, at + 32)`; any text may be asked for. */
  get(text: string, at = 0): V | undefined {
    if (text.length < at + HASH_PART_LENGTH) return undefined;
    return this.#find(text, at, this.#chains.get(prefixKey(text, at)))?.value;
  }

  /** Sets the value of `hashPart`, which must be a valid hash part (32 nix32 characters). */
  set(hashPart: string, value: V): void {
    if (hashPart.length !== HASH_PART_LENGTH) {
      throw new RangeError(`not a store path hash part: "${hashPart}"`);
    }
    const key = prefixKey(hashPart, 0);
    const first = this.#chains.get(key);
    const found = this.#find(hashPart, 0, first);
    if (found) {
      found.value = value;
      return;
    }
    this.#chains.set(key, new Link(hashPart, value, first));
    this.#size++;
  }

  delete(hashPart: string): boolean {
    if (hashPart.length !== HASH_PART_LENGTH) return false;
    const key = prefixKey(hashPart, 0);
    let link = this.#chains.get(key);
    let before: Link<V> | undefined;
    while (link && link.hashPart !== hashPart) {
      before = link;
      link = link.next;
    }
    if (!link) return false;
    if (before) before.next = link.next;
    else if (link.next) this.#chains.set(key, link.next);
    else this.#chains.delete(key);
    this.#size--;
    return true;
  }

  #find(text: string, at: number, first: Link<V> | undefined): Link<V> | undefined {
    for (let link = first; link !== undefined; link = link.next) {
      if (sameHashPart(link.hashPart, text, at)) return link;
    }
    return undefined;
  }
}

function sameHashPart(hashPart: string, text: string, at: number): boolean {
  for (let i = 0; i < HASH_PART_LENGTH; i++) {
    if (hashPart.charCodeAt(i) !== text.charCodeAt(at + i)) return false;
  }
  return true;
}
