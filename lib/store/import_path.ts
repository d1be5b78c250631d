/**
 * Importing one path from the local Nix store: refuse early when a
 * reference is missing, store its NAR checked against the NarHash Nix
 * recorded, then publish it. Re-importing a published path does nothing.
 */
import type { PathMeta } from "../narinfo/path_meta.ts";
import { parseStorePath } from "../store_path/mod.ts";
import type { Compression } from "../compress/mod.ts";
import type { SecretKey } from "../sign/mod.ts";
import { missingReferences } from "./publish_helpers.ts";
import { type ImportResult, MissingReferencesError, type Store } from "./store.ts";

export interface ImportOptions {
  compression: Compression;
  level: number;
  keys: SecretKey[];
  onProgress?: (narBytes: number) => void;
  /** Hash and compress on this thread (a small import: workers would cost more than they save). */
  inline?: boolean;
  /** Swarm segments the paths are shared on (`import --segment`). */
  segments?: string[];
}

export async function importPath(
  store: Store,
  meta: PathMeta,
  nar: () => ReadableStream<Uint8Array>,
  opts: ImportOptions,
): Promise<ImportResult> {
  const existing = await store.getNarinfo(parseStorePath(meta.storePath).hashPart);
  if (existing) return { status: "exists", narinfo: existing, storedBytes: 0 };
  const missing = await missingReferences(store, meta);
  if (missing.length) throw new MissingReferencesError(meta.storePath, missing);
  const stored = await store.storeNar(nar(), {
    compression: opts.compression,
    level: opts.level,
    inline: opts.inline,
    expect: {
      narHash: meta.narHash,
      narSize: meta.narSize,
      what: meta.storePath,
      source: "Nix recorded",
    },
    onProgress: opts.onProgress,
  });
  return await store.publish(meta, stored, {
    keys: opts.keys,
    event: "Import",
    segments: opts.segments,
  });
}
