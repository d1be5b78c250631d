/** The kv backend's files as gc reads them: listings of packs/ and manifests/, manifests. */
import { type CacheLayout, manifestPath } from "../blob/cache_layout.ts";
import { decodeManifest, type Manifest } from "../store/manifest.ts";

export interface DiskFile {
  size: number;
  /** ms */
  mtime: number;
}

/** Files in `dir` ending with `ext`, by name without it. */
export async function listDir(dir: string, ext: string): Promise<Map<string, DiskFile>> {
  const out = new Map<string, DiskFile>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !e.name.endsWith(ext)) continue;
    const st = await Deno.stat(`${dir}/${e.name}`).catch(() => undefined);
    if (st) {
      out.set(e.name.slice(0, -ext.length), { size: st.size, mtime: st.mtime?.getTime() ?? 0 });
    }
  }
  return out;
}

/** A manifest and its bytes; undefined when missing or damaged (`arca verify` reports it). */
export async function readManifest(
  l: CacheLayout,
  fh: string,
): Promise<{ m: Manifest; bytes: Uint8Array } | undefined> {
  try {
    const bytes = await Deno.readFile(manifestPath(l, fh));
    return { m: decodeManifest(bytes), bytes };
  } catch {
    return undefined;
  }
}
