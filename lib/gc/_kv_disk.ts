/** The kv backend's objects as gc reads them: packs and manifests in every storage. */
import { decodeManifest, type Manifest } from "../store/manifest.ts";
import { LOCAL, manifestKey, type PackPlaces } from "../store/pack_places.ts";

export interface DiskFile {
  size: number;
  /** ms */
  mtime: number;
  /** The storage holding it ("local": the cache dir). */
  storage: string;
}

/** Objects under `dir` ending with `ext` in every storage, by name without it. */
export async function listObjects(
  places: PackPlaces,
  dir: "packs/" | "manifests/",
  ext: string,
): Promise<Map<string, DiskFile>> {
  const out = new Map<string, DiskFile>();
  for (const o of await places.list(dir)) {
    const name = o.key.slice(dir.length);
    if (name.includes("/") || !name.endsWith(ext)) continue;
    const id = name.slice(0, -ext.length);
    // The same name in two storages (a rewrite that went elsewhere): the cache dir's wins.
    if (out.has(id) && o.storage !== LOCAL) continue;
    out.set(id, { size: o.size, mtime: o.mtime, storage: o.storage });
  }
  return out;
}

/** A manifest and its bytes; undefined when missing or damaged (`arca verify` reports it). */
export async function readManifest(
  places: PackPlaces,
  fh: string,
  storage?: string,
): Promise<{ m: Manifest; bytes: Uint8Array } | undefined> {
  try {
    const bytes = storage === undefined
      ? await places.getManifest(fh)
      : await places.set.get(storage)?.store.get(manifestKey(fh));
    if (!bytes) return undefined;
    return { m: decodeManifest(bytes), bytes };
  } catch {
    return undefined;
  }
}
