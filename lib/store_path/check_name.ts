/**
 * Store path name rules (libstore path.cc `checkName`): 1 to 211 characters of
 * `[A-Za-z0-9+-._?=]`, not `.` or `..`, and not starting with `.-` or `..-`
 * (newer Nix forbids those so a name cannot look like a path component).
 */
import { StorePathError } from "./store_path.ts";

/** The longest name Nix allows (255 minus the hash part and dash, minus room for `.drv`-like suffixes). */
export const MAX_NAME_LENGTH = 211;

const NAME_CHAR = /^[A-Za-z0-9+\-._?=]$/;

/** Throws `StorePathError` unless `name` is a valid store path name; `what` names the path in messages. */
export function checkName(name: string, what: string): void {
  if (name.length === 0) throw new StorePathError(`Invalid store path '${what}': empty name`);
  if (name.length > MAX_NAME_LENGTH) {
    throw new StorePathError(
      `Invalid store path '${what}': name longer than ${MAX_NAME_LENGTH} characters`,
    );
  }
  for (let i = 0; i < name.length; i++) {
    if (!NAME_CHAR.test(name[i])) {
      throw new StorePathError(
        `Invalid store path '${what}': illegal character ${JSON.stringify(name[i])} in name`,
      );
    }
  }
  if (name === "." || name === ".." || name.startsWith(".-") || name.startsWith("..-")) {
    throw new StorePathError(`Invalid store path '${what}': name '${name}' is not allowed`);
  }
}
