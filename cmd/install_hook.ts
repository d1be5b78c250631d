/**
 * `arca install-hook`: writes a post-build hook script that runs `arca hook`
 * and points nix.conf's `post-build-hook` at it. Idempotent; every changed
 * file is backed up first; it says what it changed.
 */
import { dirname, resolve } from "node:path";
import type { Command } from "./_command.ts";
import { bool, expectPositionals, type Globals, parseFlags, str } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import {
  backupFile,
  readTextOrEmpty,
  withPostBuildHook,
  writeTextAtomic,
} from "../lib/io/nix_conf.ts";
import { effectiveConfig } from "./_context.ts";

const MARK = "# arca post-build hook";

export const installHookCommand: Command = {
  name: "install-hook",
  help: `Usage: arca install-hook [--nix-conf FILE] [--hook-path FILE] [--force]

Writes an executable hook script (default /etc/nix/post-build-hook) that runs
'arca hook' with this cache's settings, and adds 'post-build-hook = <script>'
to nix.conf (default /etc/nix/nix.conf). Running it again changes nothing.
Files it changes are backed up first (FILE.bak-<time>). The hook never fails
a build: its errors go to <cache-dir>/hook.log and to the build's stderr.
With a nix-daemon, restart it afterwards.

Options:
  --nix-conf FILE    the nix.conf to edit (default /etc/nix/nix.conf)
  --hook-path FILE   where to write the script (default /etc/nix/post-build-hook)
  --force            replace another post-build-hook or a script Arca did not write`,
  async run(argv, globals) {
    const p = parseFlags(argv, {
      "nix-conf": { type: "string" },
      "hook-path": { type: "string" },
      force: { type: "boolean" },
    }, globals);
    expectPositionals(p, 0, 0, "");
    const conf = resolve(str(p, "nix-conf") ?? "/etc/nix/nix.conf");
    const hook = resolve(str(p, "hook-path") ?? "/etc/nix/post-build-hook");
    const force = bool(p, "force");
    // With --cache the hook passes the name on: the cache dir it names is the top level's.
    await effectiveConfig(p.globals);
    const config = await effectiveConfig({ ...p.globals, cache: undefined });
    const script = hookScript(p.globals, config.cache_dir);
    const now = new Date();

    const oldText = await readTextOrEmpty(conf);
    const change = withPostBuildHook(oldText, hook, force);
    if (change.kind === "conflict") {
      throw new UsageError(
        `${conf} already sets post-build-hook = ${change.existing}; use --force to replace it`,
      );
    }
    const oldScript = await readTextOrEmpty(hook);
    if (oldScript && !oldScript.includes(MARK) && !force) {
      throw new UsageError(`${hook} exists and was not written by arca; use --force to replace it`);
    }
    let changed = false;
    if (oldScript !== script) {
      await Deno.mkdir(dirname(hook), { recursive: true });
      const bak = oldScript ? await backupFile(hook, now) : undefined;
      await writeTextAtomic(hook, script, 0o755);
      console.log(`wrote ${hook}${bak ? ` (previous one kept as ${bak})` : ""}`);
      changed = true;
    }
    if (change.kind === "added") {
      await Deno.mkdir(dirname(conf), { recursive: true });
      const bak = oldText ? await backupFile(conf, now) : undefined;
      const mode = oldText ? ((await Deno.stat(conf)).mode ?? 0o644) & 0o7777 : 0o644;
      await writeTextAtomic(conf, change.text, mode);
      console.log(
        `set post-build-hook = ${hook} in ${conf}${bak ? ` (backup: ${bak})` : ""}`,
      );
      changed = true;
    }
    if (!changed) console.log(`already installed: ${conf} runs ${hook}; nothing changed`);
    else console.log("restart nix-daemon (if one runs) for Nix to use it");
    return 0;
  },
};

/** The script Nix runs after each build; arca is called the way this process was started. */
function hookScript(globals: Globals, cacheDir: string): string {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const exe = Deno.execPath();
  const main = new URL(Deno.mainModule);
  const isDeno = /(^|\/)deno$/.test(exe) && main.protocol === "file:";
  const cmd = isDeno ? [exe, "run", "-A", "--quiet", main.pathname] : [exe];
  const args = ["--cache-dir", resolve(cacheDir)];
  if (globals.configPath) args.push("--config", resolve(globals.configPath));
  if (globals.cache !== undefined) args.push("--cache", globals.cache);
  const denoDir = Deno.env.get("DENO_DIR") ??
    (Deno.env.get("HOME") ? `${Deno.env.get("HOME")}/.cache/deno` : undefined);
  const log = `${resolve(cacheDir)}/${
    globals.cache === undefined ? "" : `caches/${globals.cache}/`
  }hook.log`;
  return [
    "#!/bin/sh",
    `${MARK}: written by 'arca install-hook'; imports $OUT_PATHS into the cache.`,
    "# It never fails a build: errors go to the log below and to stderr.",
    ...(isDeno && denoDir ? [`: "\${DENO_DIR:=${denoDir}}"; export DENO_DIR`] : []),
    `${[...cmd, ...args, "hook", "--log", log].map(q).join(" ")} ||`,
    `  echo "arca hook failed (exit $?); see ${log}" >&2`,
    "exit 0",
    "",
  ].join("\n");
}
