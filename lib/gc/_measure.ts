/**
 * The bytes a cache takes on disk, as `du -sb <cache>` counts them, without
 * the files under `tmp/` (work in progress of running processes; a start
 * removes those of dead ones) and under `caches/` (the `[[caches]]` entries,
 * each measured on its own), plus the KV database's files when `db_path`
 * puts them elsewhere. The WAL is checkpointed first, so what is counted is
 * what stays once the last connection closes (it then also removes the WAL
 * and the 32 KiB `-shm` index, counted here while open).
 */
import type { CacheLayout } from "../blob/cache_layout.ts";
import { diskUsage, fileBytes } from "../io/disk_usage.ts";
import { checkpointKv, kvFiles, kvPages } from "../kv/kv_files.ts";

export interface CacheBytes {
  total: number;
  /** The database's files (database, WAL, shared-memory index). */
  kv: number;
  /** Free pages in the database, in bytes: what VACUUM gives back. */
  kvFree: number;
}

export async function measureCache(l: CacheLayout): Promise<CacheBytes> {
  checkpointKv(l.db);
  const files = kvFiles(l.db);
  const kv = await fileBytes(files);
  const inside = l.db.startsWith(`${l.root}/`);
  const total = await diskUsage(l.root, { skipContentsOf: [l.tmp, l.caches] }) + (inside ? 0 : kv);
  const pages = kvPages(l.db);
  return { total, kv, kvFree: pages.free * pages.pageSize };
}
