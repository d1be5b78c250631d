/**
 * A map from store path hash parts to values that can also be looked up by
 * the bytes of a hash part inside a request (`/<hash>.narinfo`), with no
 * string made. Keys are the first six characters read as a 30-bit number:
 * V8 hashes a number for free but a freshly made string on every lookup,
 * which cost ~4% of a narinfo hit's CPU in `serve`. Values whose keys share
 * those six characters are chained, and every hit is checked on all 32.
 */
import { NIX32_ALPHABET } from "../encoding/nix32.ts";
import { HASH_PART_LENGTH } from "./is_valid_hash_part.ts";

const PREFIX = 6;
// Characters outside the alphabet read as 0; the full comparison refuses them.
const DIGIT = new Uint8Array(128);
for (let i = 0; i < NIX32_ALPHABET.length; i++) DIGIT[NIX32_ALPHABET.charCodeAt(i)] = i;

function prefixKey(s: string): number {
  let k = 0;
  for (let i = 0; i < PREFIX; i++) k = (k << 5) | DIGIT[s.charCodeAt(i) & 127];
  return k;
}

function prefixKeyAt(buf: Uint8Array, at: number): number {
  let k = 0;
  for (let i = at; i < at + PREFIX; i++) k = (k << 5) | DIGIT[buf[i] & 127];
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

  /** Every value, in no particular order. */
  *values(): IterableIterator<V> {
    for (const first of this.#chains.values()) {
      for (let link: Link<V> | undefined = first; link; link = link.next) yield link.value;
    }
  }

  /** The value for `hashPart`; any string may be asked for. */
  get(hashPart: string): V | undefined {
    if (hashPart.length !== HASH_PART_LENGTH) return undefined;
    for (let link = this.#chains.get(prefixKey(hashPart)); link; link = link.next) {
      if (link.hashPart === hashPart) return link.value;
    }
    return undefined;
  }

  /** The value for the hash part in `buf[at, at + 32)` (bytes, as a request carries it). */
  getAt(buf: Uint8Array, at: number): V | undefined {
    if (buf.length < at + HASH_PART_LENGTH) return undefined;
    for (let link = this.#chains.get(prefixKeyAt(buf, at)); link; link = link.next) {
      if (sameBytes(link.hashPart, buf, at)) return link.value;
    }
    return undefined;
  }

  /** Sets the value of `hashPart`, which must be a valid hash part (32 nix32 characters). */
  set(hashPart: string, value: V): void {
    if (hashPart.length !== HASH_PART_LENGTH) {
      throw new RangeError(`not a store path hash part: "${hashPart}"`);
    }
    const key = prefixKey(hashPart);
    const first = this.#chains.get(key);
    for (let link = first; link; link = link.next) {
      if (link.hashPart === hashPart) {
        link.value = value;
        return;
      }
    }
    this.#chains.set(key, new Link(hashPart, value, first));
    this.#size++;
  }

  delete(hashPart: string): boolean {
    if (hashPart.length !== HASH_PART_LENGTH) return false;
    const key = prefixKey(hashPart);
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
}

function sameBytes(hashPart: string, buf: Uint8Array, at: number): boolean {
  for (let i = 0; i < HASH_PART_LENGTH; i++) {
    if (hashPart.charCodeAt(i) !== buf[at + i]) return false;
  }
  return true;
}
