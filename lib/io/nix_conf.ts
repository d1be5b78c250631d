/**
 * Editing nix.conf for `arca install-hook`: finds the `post-build-hook`
 * setting (the last one wins in Nix, as for every setting) and adds ours
 * without touching anything else. Writes keep a backup and are atomic.
 */

export type HookChange =
  | { kind: "present" }
  | { kind: "added"; text: string }
  | { kind: "conflict"; existing: string };

/** What adding `post-build-hook = hookPath` to `text` means; `force` replaces another hook. */
export function withPostBuildHook(text: string, hookPath: string, force: boolean): HookChange {
  const lines = text.split("\n");
  let current: string | undefined;
  let at = -1;
  lines.forEach((line, i) => {
    const m = /^\s*post-build-hook\s*=\s*(.*?)\s*$/.exec(line.replace(/#.*/, ""));
    if (m) (current = m[1], at = i);
  });
  if (current === hookPath) return { kind: "present" };
  if (current && !force) return { kind: "conflict", existing: current };
  const line = `post-build-hook = ${hookPath}`;
  if (at >= 0) {
    lines[at] = `${line} # replaced by arca install-hook (was: ${current})`;
    return { kind: "added", text: lines.join("\n") };
  }
  const base = text === "" || text.endsWith("\n") ? text : `${text}\n`;
  return { kind: "added", text: `${base}# added by arca install-hook\n${line}\n` };
}

/** Writes `text` to `path` through a temporary file in the same folder, keeping `mode`. */
export async function writeTextAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.arca-${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text, { mode, createNew: true });
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Copies `path` to `path.bak-<time>` and returns the backup's name (undefined if no file). */
export async function backupFile(path: string, now: Date): Promise<string | undefined> {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
  const bak = `${path}.bak-${stamp}`;
  try {
    await Deno.copyFile(path, bak);
    return bak;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** The file's text, or "" when it does not exist. */
export async function readTextOrEmpty(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}
