/**
 * The SQLite files under a Deno KV database, for gc's space accounting.
 * Deno KV keeps its data in SQLite (WAL mode, no auto-vacuum): deleted keys
 * leave free pages that later commits reuse, but the file never shrinks on
 * its own, and the WAL keeps its largest size (~4 MiB, 1000 pages) while any
 * connection is open. Measured here: 10,000 keys of 1 KB took 47 MB; after
 * deleting them all the file was still 47 MB, with 11,507 of its 11,516 pages
 * free; VACUUM brought it to 36 KB.
 *
 * These helpers open the file with `node:sqlite` beside the `Deno.Kv`
 * handle. Both use the one SQLite library built into Deno, so locks are
 * shared as between any two connections; `kv` keeps its keys in a
 * WITHOUT ROWID table, which VACUUM rewrites without changing anything Deno
 * KV reads (keys, values, versionstamps).
 */
import { DatabaseSync } from "node:sqlite";

/** How long a helper waits for another connection's lock. */
const BUSY_MS = 10_000;

/** The database file, its write-ahead log and its shared-memory index. */
export function kvFiles(dbPath: string): string[] {
  return [dbPath, `${dbPath}-wal`, `${dbPath}-shm`];
}

export interface KvPages {
  pageSize: number;
  /** Pages in the database (the latest commit, WAL included). */
  pages: number;
  /** Of those, pages no key uses: what VACUUM gives back. */
  free: number;
}

function open(dbPath: string): DatabaseSync {
  const db = new DatabaseSync(dbPath);
  db.exec(`PRAGMA busy_timeout = ${BUSY_MS}`);
  return db;
}

function pragma(db: DatabaseSync, name: string): number {
  const row = db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown> | undefined;
  return Number(row ? Object.values(row)[0] : 0);
}

export function kvPages(dbPath: string): KvPages {
  const db = open(dbPath);
  try {
    return {
      pageSize: pragma(db, "page_size"),
      pages: pragma(db, "page_count"),
      free: pragma(db, "freelist_count"),
    };
  } finally {
    db.close();
  }
}

/**
 * Copies the WAL into the database and truncates it to 0 bytes. False when
 * another connection's reader kept part of it in use (the WAL keeps its size).
 */
export function checkpointKv(dbPath: string): boolean {
  const db = open(dbPath);
  try {
    const r = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy?: number } | undefined;
    return !r?.busy;
  } finally {
    db.close();
  }
}

/**
 * Rebuilds the database without its free pages, then truncates the WAL.
 * Holds the write lock meanwhile (other writers wait): time and a WAL as
 * large as the live data, so only when the free pages are worth it.
 */
export function vacuumKv(dbPath: string): boolean {
  const db = open(dbPath);
  try {
    db.exec("VACUUM");
    const r = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy?: number } | undefined;
    return !r?.busy;
  } finally {
    db.close();
  }
}
