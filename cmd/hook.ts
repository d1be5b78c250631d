/**
 * `arca hook`: what the post-build hook script runs after every build.
 * Imports the closure of `$OUT_PATHS` and stores the build log of
 * `$DRV_PATH` when Nix kept one. It never fails the build: every problem is
 * reported on stderr and appended to the log file, and the exit status is 0.
 */
import { basename, dirname } from "node:path";
import type { Command } from "./_command.ts";
import { expectPositionals, parseFlags, str } from "./_args.ts";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { referencesFirst } from "../lib/io/nix_path_info.ts";
import { localPathInfo, nixBuildLog, nixDbValidOutputs } from "../lib/io/nix_db.ts";
import { effectiveConfig, signingKeys, withStore } from "./_context.ts";
import { importAll } from "./_import_flags.ts";
import type { Store } from "../lib/store/store.ts";
import { writeLog } from "../lib/store/upload_files.ts";

export const hookCommand: Command = {
  name: "hook",
  help: `Usage: arca hook [--log FILE]

Run by Nix after each build (through the script 'arca install-hook' writes):
imports the closure of the paths in $OUT_PATHS, signed with the configured
keys, and stores the build log of $DRV_PATH if Nix has one. Never fails: errors
are printed and appended to FILE (default <cache-dir>/hook.log); exit status 0.`,
  async run(argv, globals) {
    const p = parseFlags(argv, { log: { type: "string" } }, globals);
    expectPositionals(p, 0, 0, "");
    let logFile = str(p, "log");
    let outPaths = (Deno.env.get("OUT_PATHS") ?? "").split(/\s+/).filter((s) => s !== "");
    const drv = Deno.env.get("DRV_PATH") ?? "";
    try {
      const config = await effectiveConfig(p.globals);
      logFile ??= `${config.cache_dir}/hook.log`;
      // Nix 2.8.0 passes an empty OUT_PATHS (fixed in later releases): ask the derivation.
      if (outPaths.length === 0 && drv) {
        outPaths = await nixDbValidOutputs(drv, config.store_dir) ?? await validOutputs(drv);
      }
      if (outPaths.length === 0) {
        await report(logFile, "OUT_PATHS is empty: nothing to import");
        return 0;
      }
      const keys = await signingKeys(config, []);
      // From Nix's database when this process can read it (no Nix started), else from Nix.
      const metas = referencesFirst(await localPathInfo(outPaths, true, config.store_dir));
      const failed = await withStore(config, async (store) => {
        const n = await importAll(store, metas, config, keys, false);
        if (drv) {
          await storeLog(
            store,
            cacheLayout(config.cache_dir, config.db_path),
            drv,
            config.store_dir,
          );
        }
        return n;
      });
      if (failed) await report(logFile, `${failed} path(s) of ${outPaths.join(" ")} failed`);
    } catch (e) {
      await report(
        logFile,
        `importing ${outPaths.join(" ")} failed: ${(e as Error)?.message ?? e}`,
      );
    }
    return 0;
  },
};

/** The outputs of `drv` that exist in the local store, from Nix. */
async function validOutputs(drv: string): Promise<string[]> {
  const q = await new Deno.Command("nix-store", {
    args: ["-q", "--outputs", drv],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (q.code !== 0) return [];
  const out: string[] = [];
  for (const path of new TextDecoder().decode(q.stdout).split("\n").filter((l) => l !== "")) {
    const ok = await new Deno.Command("nix-store", {
      args: ["--check-validity", path],
      stdout: "null",
      stderr: "null",
    }).output();
    if (ok.code === 0) out.push(path);
  }
  return out;
}

/** Copies the build log Nix kept for `drv` (if any) into the cache. */
async function storeLog(
  store: Store,
  layout: { logs: string; tmp: string },
  drv: string,
  storeDir: string,
): Promise<void> {
  let log = await nixBuildLog(drv, storeDir);
  if (!log) {
    const out = await new Deno.Command("nix-store", {
      args: ["--read-log", drv],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.code !== 0) return;
    log = out.stdout;
  }
  if (log.length === 0) return;
  await writeLog(store, layout, basename(drv), log);
}

async function report(logFile: string | undefined, msg: string): Promise<void> {
  console.error(`arca hook: ${msg}`);
  if (!logFile) return;
  try {
    await Deno.mkdir(dirname(logFile), { recursive: true });
    await Deno.writeTextFile(logFile, `${new Date().toISOString()} ${msg}\n`, { append: true });
  } catch {
    // The log is best effort: the build must not fail because of it.
  }
}
