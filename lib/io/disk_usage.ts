/**
 * How many bytes a directory tree takes, counted as `du -sb` counts them:
 * the apparent size (`st_size`) of every file, symlink and directory, the
 * root included, and a file with several hard links once.
 */

export interface DiskUsageOptions {
  /** Directories counted themselves but not what they hold (the cache's `tmp/`). */
  skipContentsOf?: string[];
}

export async function diskUsage(root: string, opts: DiskUsageOptions = {}): Promise<number> {
  const skip = new Set((opts.skipContentsOf ?? []).map((d) => d.replace(/\/+$/, "")));
  const seen = new Set<string>();
  let total = 0;
  const visit = async (path: string): Promise<void> => {
    let st: Deno.FileInfo;
    try {
      st = await Deno.lstat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return; // removed while we walked
      throw e;
    }
    if ((st.nlink ?? 1) > 1 && !st.isDirectory) {
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) return;
      seen.add(id);
    }
    total += st.size;
    if (!st.isDirectory || skip.has(path)) return;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(path));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) await visit(`${path}/${e.name}`);
  };
  await visit(root.replace(/\/+$/, "") || "/");
  return total;
}

/** Sizes of `paths` that exist (a missing one counts 0). */
export async function fileBytes(paths: string[]): Promise<number> {
  let n = 0;
  for (const p of paths) {
    try {
      n += (await Deno.lstat(p)).size;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return n;
}
