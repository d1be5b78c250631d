/**
 * A store path split into its parts: `/nix/store/<hashPart>-<name>`. The
 * store directory is kept outside, since one cache serves one store dir.
 */

/** The store directory Nix uses unless configured otherwise. */
export const DEFAULT_STORE_DIR = "/nix/store";

/** The 32-character nix32 hash part and the name after the dash. */
export interface StorePath {
  hashPart: string;
  name: string;
}

/** A store path that breaks Nix's rules; the message says which rule. */
export class StorePathError extends SyntaxError {
  override name = "StorePathError";
}
