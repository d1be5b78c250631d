/** Hashes as Nix spells them: parse, print, compare. */
export { type Hash, HASH_SIZES, type HashAlgo, isHashAlgo } from "./hash.ts";
export { parseHash } from "./parse_hash.ts";
export { formatHash, type HashForm } from "./format_hash.ts";
export { hashEquals } from "./hash_equals.ts";
