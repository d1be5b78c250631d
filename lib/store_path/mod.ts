/** Store paths: parse, validate, print. */
export { DEFAULT_STORE_DIR, type StorePath, StorePathError } from "./store_path.ts";
export { parseStorePath, parseStorePathBase } from "./parse_store_path.ts";
export { formatStorePath, storePathBase } from "./format_store_path.ts";
export { HASH_PART_LENGTH, isValidHashPart } from "./is_valid_hash_part.ts";
export { HashPartMap } from "./hash_part_map.ts";
export { checkName, MAX_NAME_LENGTH } from "./check_name.ts";
