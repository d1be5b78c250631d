/**
 * Where things live under the cache directory. One place so that import,
 * serve, gc and the tests agree.
 *
 * ```
 * <cache>/nix-cache-info      what `GET /nix-cache-info` answers
 * <cache>/db                  Deno KV: narinfo metadata, indexes, audit log (kv backend)
 * <cache>/packs/<id>.pack     compressed chunks, appended by one import and then immutable
 * <cache>/manifests/<fh>.bin  a NAR's chunk list, named by its FileHash (nix32)
 * <cache>/logs/<drv>          build logs
 * <cache>/tmp/                work in progress; emptied at every start
 * <cache>/caches/<name>/      each [[caches]] entry's own cache, laid out the same way
 * <cache>/<hash>.narinfo, <cache>/nar/<fh>.nar.zst   the filesystem backend (nix copy layout)
 * ```
 */
export interface CacheLayout {
  root: string;
  cacheInfo: string;
  db: string;
  packs: string;
  manifests: string;
  logs: string;
  tmp: string;
  nar: string;
  /** The `[[caches]]` entries' own directories: not part of this cache (gc does not count them). */
  caches: string;
}

export function cacheLayout(root: string, dbPath = ""): CacheLayout {
  const r = root.replace(/\/+$/, "") || "/";
  return {
    root: r,
    cacheInfo: `${r}/nix-cache-info`,
    db: dbPath || `${r}/db`,
    packs: `${r}/packs`,
    manifests: `${r}/manifests`,
    logs: `${r}/logs`,
    tmp: `${r}/tmp`,
    nar: `${r}/nar`,
    caches: `${r}/caches`,
  };
}

export function packPath(l: CacheLayout, packId: string): string {
  return `${l.packs}/${packId}.pack`;
}

export function manifestPath(l: CacheLayout, fileHash32: string): string {
  return `${l.manifests}/${fileHash32}.bin`;
}
