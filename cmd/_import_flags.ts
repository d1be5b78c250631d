/** Flags shared by `import` and `import-closure`, and the loop that imports a list of paths. */
import { type FlagSpec, type Parsed, str, strs } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import type { Compression, Config } from "../lib/config/mod.ts";
import { DEFAULT_LEVELS } from "../lib/compress/compression.ts";
import { formatBytes } from "../lib/cli/duration.ts";
import type { PathMeta, Store } from "../lib/store/store.ts";
import type { SecretKey } from "../lib/sign/mod.ts";
import { narDumpPath } from "../lib/io/nar_source.ts";
import { type ImportOptions, importPath } from "../lib/store/import_path.ts";
import { type BatchOutcome, importBatch } from "../lib/store/import_batch.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { storeMeta } from "../lib/store/store_meta.ts";
import { Progress } from "./_progress.ts";
import { STORE_FLAGS, STORE_OPTIONS_HELP, storeOverrides } from "./_context.ts";

/**
 * Imports up to this many bytes of NAR are hashed and compressed on the main
 * thread (a post-build hook's outputs, typically): a worker costs ~30 ms of
 * a core to start and only pays off over a few MiB.
 */
const INLINE_BYTES = 8 << 20;

export const IMPORT_FLAGS: FlagSpec = {
  ...STORE_FLAGS,
  compression: { type: "string" },
  "signing-key": { type: "string", multiple: true },
  segment: { type: "string", multiple: true },
  json: { type: "boolean" },
};

export const IMPORT_OPTIONS_HELP =
  `  --compression zstd|xz|none   how to store and serve the NARs (default: config 'compression', zstd)
  --signing-key FILE           sign with this secret key file (repeatable); default: the
                               configured signing_key_path / signing_key_paths
  --segment NAME               share the paths on this swarm segment only (repeatable),
                               instead of the segments whose filter takes them (kv backend)
  --json                       print one JSON object per path instead of text
${STORE_OPTIONS_HELP}`;

export function importFlags(
  p: Parsed,
): { flags: Partial<Config>; keyPaths: string[]; segments: string[] } {
  const c = str(p, "compression");
  if (c !== undefined && c !== "zstd" && c !== "xz" && c !== "none") {
    throw new UsageError(`--compression must be zstd, xz or none, got '${c}'`);
  }
  const flags: Partial<Config> = storeOverrides(p);
  if (c) flags.compression = c as Compression;
  return { flags, keyPaths: strs(p, "signing-key"), segments: strs(p, "segment") };
}

/**
 * Imports `paths` in the given order (references first). Returns the number
 * of failures; each failure is reported and the rest go on, except that a
 * path whose reference failed fails too (its closure would be incomplete).
 */
export async function importAll(
  store: Store,
  paths: PathMeta[],
  config: Config,
  keys: SecretKey[],
  json: boolean,
  segments: string[] = [],
): Promise<number> {
  if (segments.length) {
    if (store.backend !== "kv") {
      throw new UsageError("--segment needs the kv backend (the filesystem one keeps no segments)");
    }
    // The swarm's modules only for an import that names segments.
    (await import("./_segments.ts")).checkSegmentNames(config, segments);
  }
  const total = paths.reduce((n, p) => n + p.narSize, 0);
  const progress = new Progress(paths.length, total);
  let failed = 0, imported = 0, existing = 0, stored = 0;
  const opts: ImportOptions = {
    compression: config.compression,
    level: config.compression === "zstd" ? config.zstd_level : DEFAULT_LEVELS[config.compression],
    keys,
    onProgress: (b) => progress.update(b),
    inline: total <= INLINE_BYTES,
    segments: segments.length ? segments : undefined,
  };
  const report = ({ meta, result: r, error }: BatchOutcome) => {
    progress.clear();
    if (error) {
      failed++;
      console.error(`arca: ${error.message}`);
      return;
    }
    progress.pathDone(meta.narSize);
    stored += r.storedBytes;
    if (r.status === "imported") imported++;
    else existing++;
    progress.clear();
    if (json) {
      console.log(JSON.stringify({
        path: meta.storePath,
        status: r.status,
        narSize: meta.narSize,
        fileSize: r.narinfo.fileSize,
        storedBytes: r.storedBytes,
        url: r.narinfo.url,
      }));
    } else if (r.status === "exists") console.log(`already cached ${meta.storePath}`);
    else {
      console.log(
        `imported ${meta.storePath} (${formatBytes(meta.narSize)} NAR, ${
          formatBytes(r.storedBytes)
        } new)`,
      );
    }
  };
  // Ingest is done with each piece before it pulls the next: buffers can be reused.
  const nar = (meta: PathMeta) => narDumpPath(meta.storePath, { reuseBuffers: true });
  if (store instanceof KvStore) {
    // Many paths share packs, fsyncs, KV commits and one lease (lib/store/import_batch.ts).
    await importBatch(store, paths, nar, opts, report);
  } else {
    for (const meta of paths) {
      try {
        report({ meta, result: await importPath(store, meta, () => nar(meta), opts) });
      } catch (e) {
        report({ meta, error: e as Error });
      }
    }
  }
  progress.clear();
  const secs = progress.elapsedSeconds();
  // For /metrics of a serve beside this process; a failure here fails no import.
  await storeMeta(store).recordRun("import", secs * 1000, imported).catch((e) => {
    console.error(`arca: recording the import run failed: ${(e as Error).message}`);
  });
  console.error(
    `arca: ${imported} imported, ${existing} already cached, ${failed} failed; ` +
      `${formatBytes(progress.doneBytes)} of NAR in ${secs.toFixed(1)} s ` +
      `(${formatBytes(progress.doneBytes / Math.max(secs, 0.001))}/s), ${
        formatBytes(stored)
      } stored`,
  );
  return failed;
}
