/**
 * Parses store paths, full (`/nix/store/<hash>-<name>`) or as a basename
 * (`<hash>-<name>`, as narinfo References and Deriver carry them).
 *
 * @example
 * ```ts
 * import { parseStorePath } from "./parse_store_path.ts";
 * const p = parseStorePath("/nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib");
 * if (p.name !== "spike-lib") throw new Error(p.name);
 * ```
 */
import { checkName } from "./check_name.ts";
import { HASH_PART_LENGTH, isValidHashPart } from "./is_valid_hash_part.ts";
import { DEFAULT_STORE_DIR, type StorePath, StorePathError } from "./store_path.ts";

/** Parses `<hash>-<name>`. Throws `StorePathError`. */
export function parseStorePathBase(base: string): StorePath {
  return parseBase(base, base);
}

/** `what` is the text the caller was given, quoted in messages. */
function parseBase(base: string, what: string): StorePath {
  if (base.length < HASH_PART_LENGTH + 2) {
    throw new StorePathError(`Invalid store path '${what}': too short`);
  }
  const hashPart = base.slice(0, HASH_PART_LENGTH);
  if (!isValidHashPart(hashPart)) {
    throw new StorePathError(`Invalid store path '${what}': hash part is not 32 nix32 characters`);
  }
  if (base[HASH_PART_LENGTH] !== "-") {
    throw new StorePathError(`Invalid store path '${what}': no '-' after the hash part`);
  }
  const name = base.slice(HASH_PART_LENGTH + 1);
  checkName(name, what);
  return { hashPart, name };
}

/**
 * Parses a full store path directly inside `storeDir`. Strict: no trailing
 * slash, no subpath, no `//`: callers wanting a path inside a store object
 * must split it first.
 */
export function parseStorePath(full: string, storeDir: string = DEFAULT_STORE_DIR): StorePath {
  const prefix = storeDir + "/";
  if (!full.startsWith(prefix)) {
    throw new StorePathError(
      `Invalid store path '${full}': not in the store directory '${storeDir}'`,
    );
  }
  const base = full.slice(prefix.length);
  if (base.includes("/")) {
    throw new StorePathError(`Invalid store path '${full}': not directly in '${storeDir}'`);
  }
  return parseBase(base, full);
}
