import type { Hash } from "../hash/mod.ts";

/** What Nix knows about a store path (from `nix path-info --json`), before Arca stores it. */
export interface PathMeta {
  storePath: string;
  narHash: Hash;
  narSize: number;
  /** basenames */
  references: string[];
  deriver?: string;
  sigs: string[];
  ca?: string;
}
