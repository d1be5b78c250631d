/**
 * `nix-cache-info`, the first file a client reads from a cache:
 *
 * ```
 * StoreDir: /nix/store
 * WantMassQuery: 1
 * Priority: 40
 * ```
 *
 * Parsing follows Nix's lenient reader (binary-cache-store.cc): values are
 * trimmed, lines without a colon and unknown keys are skipped, a missing
 * WantMassQuery means false and a missing Priority means 50.
 */
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { NarinfoError } from "./narinfo.ts";

export interface CacheInfo {
  storeDir: string;
  wantMassQuery: boolean;
  /** Lower wins; cache.nixos.org uses 40. */
  priority: number;
}

/** Nix's priority for a cache that does not state one. */
export const DEFAULT_CACHE_PRIORITY = 50;

export function formatCacheInfo(ci: CacheInfo): string {
  return `StoreDir: ${ci.storeDir}\nWantMassQuery: ${
    ci.wantMassQuery ? 1 : 0
  }\nPriority: ${ci.priority}\n`;
}

/** Parses `nix-cache-info`. Throws `NarinfoError` on a Priority that is not an integer. */
export function parseCacheInfo(text: string): CacheInfo {
  const ci: CacheInfo = {
    storeDir: DEFAULT_STORE_DIR,
    wantMassQuery: false,
    priority: DEFAULT_CACHE_PRIORITY,
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const colon = lines[i].indexOf(":");
    if (colon < 0) continue;
    const key = lines[i].slice(0, colon);
    const value = lines[i].slice(colon + 1).trim();
    if (key === "StoreDir") ci.storeDir = value;
    else if (key === "WantMassQuery") ci.wantMassQuery = value === "1";
    else if (key === "Priority") {
      const n = Number(value);
      if (!/^[+-]?[0-9]+$/.test(value) || !Number.isSafeInteger(n)) {
        throw new NarinfoError(
          `Cannot parse nix-cache-info: line ${i + 1}: Priority is not an integer: ${
            JSON.stringify(value)
          }`,
        );
      }
      ci.priority = n;
    }
  }
  return ci;
}
