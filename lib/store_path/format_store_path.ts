/** Prints store paths: the basename `<hash>-<name>` or the full path. */
import { DEFAULT_STORE_DIR, type StorePath } from "./store_path.ts";

/** `<hashPart>-<name>`. */
export function storePathBase(p: StorePath): string {
  return `${p.hashPart}-${p.name}`;
}

/** `<storeDir>/<hashPart>-<name>`. */
export function formatStorePath(p: StorePath, storeDir: string = DEFAULT_STORE_DIR): string {
  return `${storeDir}/${storePathBase(p)}`;
}
