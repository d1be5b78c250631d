/**
 * The filesystem backend as gc and verify see it: every `<hash>.narinfo` in
 * the cache directory (the records) and every file under `nar/` (the NAR
 * files). Read straight from disk: that layout is the truth, KV only keeps
 * access times, roots and the NAR file records uploads look up.
 */
import type { CacheLayout } from "../blob/cache_layout.ts";
import type { MetaStore } from "../kv/meta_store.ts";
import { type NarInfo, parseNarinfo } from "../narinfo/mod.ts";
import { isValidHashPart } from "../store_path/mod.ts";

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

/** What gc and verify need from the filesystem backend (`FsStore` has both). */
export interface FsTarget {
  layout: CacheLayout;
  meta: MetaStore;
}

export function narinfoPath(l: CacheLayout, hashPart: string): string {
  return `${l.root}/${hashPart}.narinfo`;
}

/**
 * Every readable narinfo by hash part; `bad` collects the names of those that
 * do not parse (verify reports them; gc leaves them alone).
 */
export async function listFsPaths(
  l: CacheLayout,
  bad: string[] = [],
): Promise<Map<string, FsPath>> {
  const out = new Map<string, FsPath>();
  for await (const e of Deno.readDir(l.root)) {
    if (!e.isFile || !e.name.endsWith(".narinfo")) continue;
    const hashPart = e.name.slice(0, -8);
    if (!isValidHashPart(hashPart)) continue;
    const path = narinfoPath(l, hashPart);
    try {
      const [text, st] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
      const info = parseNarinfo(text);
      const file = info.url.startsWith("nar/") ? info.url.slice(4) : info.url;
      const writtenAt = st.mtime?.getTime() ?? 0;
      out.set(hashPart, { hashPart, info, file, writtenAt, size: st.size });
    } catch (err) {
      // Gone meanwhile (another gc, a repair) is not a problem; garbage is.
      if (!(err instanceof Deno.errors.NotFound)) {
        bad.push(`${e.name}: ${(err as Error).message}`);
      }
    }
  }
  return out;
}

/** Files under `nar/`: size and mtime (ms), by name. */
export async function listNarFiles(
  l: CacheLayout,
): Promise<Map<string, { size: number; mtime: number }>> {
  const out = new Map<string, { size: number; mtime: number }>();
  for await (const e of Deno.readDir(l.nar)) {
    if (!e.isFile) continue;
    const st = await Deno.stat(`${l.nar}/${e.name}`).catch(() => undefined);
    if (st) out.set(e.name, { size: st.size, mtime: st.mtime?.getTime() ?? 0 });
  }
  return out;
}

/** Hash parts of a path's references other than itself. */
export function referenceHashes(p: FsPath): string[] {
  return p.info.references.map((r) => r.slice(0, 32)).filter((h) => h !== p.hashPart);
}
