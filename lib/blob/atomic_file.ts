/**
 * Crash-safe file creation: write under `tmp/`, fsync, then rename into
 * place, so a reader never sees a partial file under its final name.
 */
export async function writeFileAtomic(
  tmpDir: string,
  finalPath: string,
  data: Uint8Array | string,
  mode = 0o644,
): Promise<void> {
  const tmp = tmpName(tmpDir);
  const f = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await f.write(bytes.subarray(off));
    await f.sync();
  } catch (e) {
    f.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  f.close();
  try {
    await Deno.rename(tmp, finalPath);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * A fresh temporary file name. It starts with our PID so that a later start
 * can tell leftovers of a dead process from files a live one (a running
 * `serve` next to an `import`) is still writing.
 */
export function tmpName(tmpDir: string, suffix = ".part"): string {
  return `${tmpDir}/${Deno.pid}.${crypto.randomUUID()}${suffix}`;
}

/**
 * Creates the directories and removes temporary files left by processes
 * that are gone (a crash or SIGKILL). Returns how many were removed.
 */
export async function prepareDirs(dirs: string[], tmpDir: string): Promise<number> {
  for (const d of dirs) await Deno.mkdir(d, { recursive: true });
  await Deno.mkdir(tmpDir, { recursive: true });
  let removed = 0;
  for await (const e of Deno.readDir(tmpDir)) {
    const pid = Number(e.name.split(".")[0]);
    if (Number.isInteger(pid) && pid > 0 && (pid === Deno.pid || (await alive(pid)))) continue;
    await Deno.remove(`${tmpDir}/${e.name}`, { recursive: true }).catch(() => {});
    removed++;
  }
  return removed;
}

async function alive(pid: number): Promise<boolean> {
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}
