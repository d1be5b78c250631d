/**
 * The filesystem backend as gc and verify see it: every `<hash>.narinfo` of
 * the layout (the records) and every file under `nar/` (the NAR files), in
 * the cache directory or a bucket (`FlatFiles`). Read straight from there:
 * that layout is the truth, KV only keeps access times, roots and the NAR
 * file records uploads look up.
 */
import type { CacheLayout } from "../blob/cache_layout.ts";
import type { MetaStore } from "../kv/meta_store.ts";
import { type NarInfo, parseNarinfo } from "../narinfo/mod.ts";
import { type FlatFiles, isStoreFailure, NARINFO_READ_AHEAD } from "../store/flat_files.ts";
import { readAhead } from "../store/read_ahead.ts";

/** One published path of the filesystem backend. */
export interface FsPath {
  hashPart: string;
  info: NarInfo;
  /** The NAR file's name under `nar/` (the narinfo URL without `nar/`). */
  file: string;
  /** When the narinfo was written (its mtime, ms): the import or upload time. */
  writtenAt: number;
  /** Bytes of the narinfo file. */
  size: number;
}

/** What gc and verify need from the filesystem backend (`FsStore` has all three). */
export interface FsTarget {
  layout: CacheLayout;
  meta: MetaStore;
  files: FlatFiles;
}

/**
 * Narinfos already parsed, by name, with the size and time they had: gc
 * lists several times a run, and a bucket costs a GET per narinfo read.
 * A rewrite (`sign`) changes size and time, so it is read again.
 */
const parsed = new WeakMap<
  FlatFiles,
  Map<string, { size: number; mtime: number; info: NarInfo }>
>();

/**
 * Every readable narinfo by hash part; `bad` collects the names of those that
 * do not parse (verify reports them; gc leaves them alone). A store that
 * fails (S3 down) throws: a narinfo it could not read must not look absent.
 */
export async function listFsPaths(
  files: FlatFiles,
  bad: string[] = [],
): Promise<Map<string, FsPath>> {
  const out = new Map<string, FsPath>();
  let memo = parsed.get(files);
  if (!memo) parsed.set(files, memo = new Map());
  const seen = new Set<string>();
  const one = async (f: { name: string; size: number; mtime: number }) => {
    const hashPart = f.name.slice(0, -8);
    seen.add(f.name);
    try {
      let info = memo.get(f.name);
      if (!info || info.size !== f.size || info.mtime !== f.mtime) {
        const text = await files.readText(f.name);
        if (text === undefined) return; // gone meanwhile (another gc, a repair)
        info = { size: f.size, mtime: f.mtime, info: parseNarinfo(text) };
        memo.set(f.name, info);
      }
      const url = info.info.url;
      const file = url.startsWith("nar/") ? url.slice(4) : url;
      out.set(hashPart, { hashPart, info: info.info, file, writtenAt: f.mtime, size: f.size });
    } catch (err) {
      if (isStoreFailure(err)) throw err;
      if (!(err instanceof Deno.errors.NotFound)) bad.push(`${f.name}: ${(err as Error).message}`);
    }
  };
  for await (const _ of readAhead(files.narinfos(), NARINFO_READ_AHEAD, one));
  for (const name of memo.keys()) if (!seen.has(name)) memo.delete(name);
  return out;
}

/** Files under `nar/`: size and mtime (ms), by name (without `nar/`). */
export async function listNarFiles(
  files: FlatFiles,
): Promise<Map<string, { size: number; mtime: number }>> {
  const out = new Map<string, { size: number; mtime: number }>();
  for await (const f of files.nars()) out.set(f.name.slice(4), { size: f.size, mtime: f.mtime });
  return out;
}

/** Hash parts of a path's references other than itself. */
export function referenceHashes(p: FsPath): string[] {
  return p.info.references.map((r) => r.slice(0, 32)).filter((h) => h !== p.hashPart);
}
