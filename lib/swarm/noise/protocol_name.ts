/**
 * Parses a full Noise protocol name (spec section 8) into what a HandshakeState runs. Supported:
 * the XX pattern with any of the `psk0`..`psk3` modifiers (section 9.4), DH `25519`, cipher
 * `ChaChaPoly`, hash `BLAKE2s` or `SHA256`; e.g. `Noise_XXpsk0+psk3_25519_ChaChaPoly_BLAKE2s`.
 *
 * XX:
 * ```
 * -> e
 * <- e, ee, s, es
 * -> s, se
 * ```
 * `psk0` puts a `psk` token first in message 1, `pskN` (N >= 1) last in message N. Every XX
 * placement meets the validity rule of section 9.3, since each side's first token is `e`.
 */
import { HASH_FUNCTIONS, type HashFunction, type HashName } from "./hash_function.ts";
import { NoiseError } from "./noise_error.ts";

/** A handshake token; XX needs no `ss`. */
export type Token = "e" | "s" | "ee" | "es" | "se" | "psk";

/** What a protocol name asks for. */
export interface Protocol {
  /** The name as given: the input of InitializeSymmetric. */
  name: string;
  /** The message patterns in order; message i is written by the initiator when i is even. */
  messages: readonly (readonly Token[])[];
  /** True when any `psk` modifier is present: then every `e` token also does MixKey(e). */
  psk: boolean;
  /** How many `psk` tokens there are, i.e. how many PSKs each side must supply. */
  pskCount: number;
  hash: HashFunction;
}

const XX: readonly (readonly Token[])[] = [["e"], ["e", "ee", "s", "es"], ["s", "se"]];
const MAX_NAME = 255; // bytes, section 8; every valid name is ASCII

/** Parses `name`; throws NoiseError naming what is not supported. */
export function parseProtocolName(name: string): Protocol {
  const refuse = (why: string): never => {
    throw new NoiseError(`Unsupported Noise protocol name ${JSON.stringify(name)}: ${why}`);
  };
  if (name.length > MAX_NAME) refuse(`longer than ${MAX_NAME} bytes`);
  const sections = name.split("_");
  if (sections.length !== 5 || sections[0] !== "Noise") {
    refuse("expected Noise_<pattern>_<DH>_<cipher>_<hash>");
  }
  const [, patternSection, dhName, cipherName, hashName] = sections;
  const pattern = /^([A-Z][A-Z0-9]*)(.*)$/.exec(patternSection);
  if (!pattern) return refuse(`bad handshake pattern section "${patternSection}"`);
  if (pattern[1] !== "XX") refuse(`handshake pattern "${pattern[1]}" (only XX)`);
  if (dhName !== "25519") refuse(`DH functions "${dhName}" (only 25519)`);
  if (cipherName !== "ChaChaPoly") refuse(`cipher functions "${cipherName}" (only ChaChaPoly)`);
  if (hashName !== "SHA256" && hashName !== "BLAKE2s") {
    refuse(`hash function "${hashName}" (only BLAKE2s or SHA256)`);
  }

  const positions: number[] = [];
  if (pattern[2] !== "") {
    for (const modifier of pattern[2].split("+")) {
      const m = /^psk([0-9])$/.exec(modifier);
      if (!m) return refuse(`pattern modifier "${modifier}" (only psk0..psk${XX.length})`);
      const at = Number(m[1]);
      if (at > XX.length) refuse(`modifier "${modifier}": XX has only ${XX.length} messages`);
      // Section 8.1: modifiers whose order does not matter must be sorted; a repeat is a typo.
      if (positions.length > 0 && at <= positions[positions.length - 1]) {
        refuse(`psk modifiers must be distinct and in ascending order`);
      }
      positions.push(at);
    }
  }

  const messages = XX.map((m) => [...m]);
  for (const at of positions) {
    if (at === 0) messages[0].unshift("psk");
    else messages[at - 1].push("psk");
  }
  return {
    name,
    messages,
    psk: positions.length > 0,
    pskCount: positions.length,
    hash: HASH_FUNCTIONS[hashName as HashName],
  };
}
