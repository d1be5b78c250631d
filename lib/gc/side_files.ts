/**
 * The files that go with a path when gc removes it: its NAR listing
 * (`<hash>.ls`) and its deriver's build log, which goes with the last
 * cached path built by that derivation. They live under the cache dir
 * (`listings/`, `logs/`) or, for a filesystem backend on S3, in the bucket
 * (`<hash>.ls`, `log/<drv>`); `lib/store/upload_files.ts` writes them.
 *
 * A listing no path names is garbage once older than the grace period (it
 * is never served: an upload's listing may arrive before its narinfo). A
 * log no path names may be a failed build's, or be uploaded before its
 * outputs: it goes only by age, once older than `--max-age` (`max_age`).
 *
 * `Since` says when each kind of orphan became garbage: `listings` (the
 * grace period's start), and `logs` (now minus max-age, if one is given).
 *
 * @module
 */
import type { CacheLayout } from "../blob/cache_layout.ts";
import { FsBlobStore } from "../blob/fs_blob_store.ts";
import type { FlatFile, FlatFiles } from "../store/flat_files.ts";
import { bucketListingName, bucketLogName, localListingName } from "../store/side_file_names.ts";
import type { ModelFile } from "./space_model.ts";

/** Where a cache keeps its side files, with the names gc uses for them. */
export interface SideFiles {
  listingName(hashPart: string): string;
  logName(drv: string): string;
  list(): AsyncIterable<FlatFile>;
  /** Deletes the files; returns those it deleted, as far as it can tell. */
  remove(names: string[]): Promise<string[]>;
}

/** A path as far as its side files go. */
export interface SideUser {
  hashPart: string;
  /** Basename of its deriver (`<hash>-<name>.drv`), if known. */
  deriver?: string;
}

/** A side file in gc's hands, with the paths that keep it (none: an orphan). */
export interface SideFile extends FlatFile {
  users: string[];
  kind: "listing" | "log";
}

/** Listings and the layout's `logs/` under the cache dir (names relative to it). */
export function localSideFiles(layout: Pick<CacheLayout, "root" | "tmp" | "logs">): SideFiles {
  const blobs = new FsBlobStore(layout.root, layout.tmp);
  const logs = `${layout.logs.slice(layout.root.length + 1)}/`;
  const listings = localListingName("").replace(/[^/]*$/, "");
  return {
    listingName: localListingName,
    logName: (drv) => `${logs}${drv}`,
    async *list() {
      for (const prefix of [listings, logs]) {
        for await (const o of blobs.list(prefix)) {
          yield { name: o.key, size: o.size, mtime: o.mtime };
        }
      }
    },
    async remove(names) {
      await blobs.deleteMany(names);
      return names;
    },
  };
}

/** `<hash>.ls` and `log/<drv>` beside the narinfos (a filesystem backend's bucket). */
export function bucketSideFiles(files: FlatFiles): SideFiles {
  return {
    listingName: bucketListingName,
    logName: bucketLogName,
    list: () => files.logsAndListings?.() ?? empty(),
    remove: (names) => files.remove(names),
  };
}

async function* empty(): AsyncIterable<FlatFile> {}

/** Every side file, with the paths of `paths` that keep it. */
export async function sideFilesOf(
  side: SideFiles,
  paths: Iterable<SideUser>,
): Promise<Map<string, SideFile>> {
  const users = new Map<string, string[]>();
  const use = (name: string, h: string) => {
    const u = users.get(name);
    if (u) u.push(h);
    else users.set(name, [h]);
  };
  for (const p of paths) {
    use(side.listingName(p.hashPart), p.hashPart);
    if (p.deriver) use(side.logName(p.deriver), p.hashPart);
  }
  const out = new Map<string, SideFile>();
  for await (const f of side.list()) {
    const kind = f.name.endsWith(".ls") ? "listing" : "log";
    out.set(f.name, { ...f, users: users.get(f.name) ?? [], kind });
  }
  return out;
}

/** Orphans written before these times are garbage (see the module comment). */
export interface Since {
  listings: number;
  logs?: number;
}

/** Whether gc may delete a side file no path keeps. */
export function orphanIsGarbage(f: SideFile, since: Since): boolean {
  if (f.users.length) return false;
  const before = f.kind === "listing" ? since.listings : since.logs;
  return before !== undefined && f.mtime < before;
}

/**
 * Deletes the side files of `removed` paths that no path of `remaining`
 * keeps, and the orphans `since` makes garbage; returns what it deleted
 * and the bytes.
 */
export async function sweepSideFiles(
  side: SideFiles,
  removed: Iterable<SideUser>,
  remaining: Iterable<SideUser>,
  since: Since,
): Promise<{ files: number; bytes: number }> {
  const gone = new Set<string>();
  for (const p of removed) {
    gone.add(side.listingName(p.hashPart));
    if (p.deriver) gone.add(side.logName(p.deriver));
  }
  const doomed: SideFile[] = [];
  for (const f of (await sideFilesOf(side, remaining)).values()) {
    if (f.users.length) continue;
    if (gone.has(f.name) || orphanIsGarbage(f, since)) doomed.push(f);
  }
  const deleted = new Set(await side.remove(doomed.map((f) => f.name)));
  let bytes = 0, files = 0;
  for (const f of doomed) {
    if (!deleted.has(f.name)) continue;
    files++;
    bytes += f.size;
  }
  return { files, bytes };
}

/**
 * Side files as the space model takes them: those some path keeps, and
 * orphans gc deletes, as files without chunks (keys: their names); each
 * path's list of the ones it keeps; and their bytes, which the caller takes
 * out of the model's `other`.
 */
export function modelSides(
  sides: Map<string, SideFile>,
  since: Since,
): { files: Map<string, ModelFile>; byPath: Map<string, string[]>; bytes: number } {
  const files = new Map<string, ModelFile>();
  const byPath = new Map<string, string[]>();
  let bytes = 0;
  for (const f of sides.values()) {
    if (!f.users.length && !orphanIsGarbage(f, since)) continue;
    files.set(f.name, { bytes: f.size, chunks: [], held: false });
    bytes += f.size;
    for (const h of f.users) {
      const list = byPath.get(h);
      if (list) list.push(f.name);
      else byPath.set(h, [f.name]);
    }
  }
  return { files, byPath, bytes };
}

/** When orphans became garbage for a run at `now`: listings after the grace period, logs after max-age. */
export function sideSince(now: number, graceMs: number, maxAgeMs?: number): Since {
  return {
    listings: now - graceMs,
    logs: maxAgeMs === undefined ? undefined : now - Math.max(maxAgeMs, graceMs),
  };
}
