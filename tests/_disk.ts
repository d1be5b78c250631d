/**
 * What a cache directory takes on disk, computed in the test the way
 * `du -sb` counts (apparent sizes of files, symlinks and directories, the
 * root included, hard links once), independently of the code under test.
 */
import assert from "node:assert/strict";
import { run } from "./_run.ts";

export interface DiskShot {
  /** `du -sb` of the directory */
  total: number;
  /** Regular files by path relative to the directory */
  files: Map<string, number>;
  /** Sum of the directories' own sizes */
  dirs: number;
}

export async function diskShot(dir: string): Promise<DiskShot> {
  const files = new Map<string, number>();
  const inodes = new Set<string>();
  let total = 0, dirs = 0;
  const walk = async (rel: string) => {
    const st = await Deno.lstat(rel ? `${dir}/${rel}` : dir);
    if (st.isDirectory) {
      total += st.size;
      dirs += st.size;
      for await (const e of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
        await walk(rel ? `${rel}/${e.name}` : e.name);
      }
      return;
    }
    const id = `${st.dev}/${st.ino}`;
    if (inodes.has(id)) return;
    inodes.add(id);
    total += st.size;
    if (st.isFile) files.set(rel, st.size);
  };
  await walk("");
  return { total, files, dirs };
}

/** The shot's total must be what `du -sb` itself says. */
export async function assertDuAgrees(dir: string, shot: DiskShot): Promise<void> {
  const r = await run("du", ["-sb", dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Number(r.stdout.split("\t")[0]), shot.total, "the test's du -sb walk is du's");
}

/** Bytes of the data files gc deletes: packs, manifests, NAR files, narinfos, listings, logs. */
export function dataBytes(shot: DiskShot): number {
  let n = 0;
  for (const [rel, size] of shot.files) {
    if (/^(packs|manifests|nar|listings|logs)\//.test(rel) || /^[^/]+\.narinfo$/.test(rel)) {
      n += size;
    }
  }
  return n;
}

/** Bytes of the KV database's files (`db`, `db-wal`, `db-shm`). */
export function dbBytes(shot: DiskShot): number {
  let n = 0;
  for (const [rel, size] of shot.files) if (/^db(-wal|-shm)?$/.test(rel)) n += size;
  return n;
}
