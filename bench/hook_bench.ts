/**
 * W9: what the post-build hook adds to a build. `arca install-hook` writes
 * the hook script and a nix.conf line (into the bench's work dir); then,
 * alternating, `nix-build` of a tiny derivation (one small file, a fresh
 * store path every time) runs with and without `post-build-hook` set. The
 * hook imports each output into a cache of its own. Reported: the build's
 * time with the hook minus without it, per pair of builds.
 */
import { sh, stats } from "./_lib.ts";
import type { Row } from "./_report.ts";
import { deleteStore } from "./_closure.ts";
import { arcaArgs, derivationExpr } from "../tests/_run.ts";

export interface HookSetup {
  nixEnv: Record<string, string>;
  /** Environment for arca without ARCA_DIR. */
  arcaEnv: Record<string, string>;
  workDir: string;
  runs: number;
  cleanups: (() => Promise<void>)[];
}

async function timedBuild(file: string, env: Record<string, string>): Promise<[number, string]> {
  const t0 = performance.now();
  const out = await sh("nix-build", ["--no-out-link", file], { env });
  return [performance.now() - t0, out.trim()];
}

export async function benchHook(s: HookSetup): Promise<{ rows: Row[]; note: string }> {
  const cache = `${s.workDir}/hook-cache`;
  const env: Record<string, string> = { ...s.arcaEnv, ARCA_DIR: cache };
  const conf = `${s.workDir}/hook-nix.conf`;
  const hook = `${s.workDir}/post-build-hook`;
  await sh(
    Deno.execPath(),
    arcaArgs(["install-hook", "--nix-conf", conf, "--hook-path", hook]),
    { env },
  );
  const hooked = {
    ...s.nixEnv,
    NIX_CONFIG: `${s.nixEnv.NIX_CONFIG}\npost-build-hook = ${hook}`,
    // The hook's own environment: where its arca finds config and cache.
    HOME: env.HOME,
    XDG_CONFIG_HOME: env.XDG_CONFIG_HOME,
    DENO_DIR: env.DENO_DIR,
  };
  const plain = { ...hooked, NIX_CONFIG: s.nixEnv.NIX_CONFIG };
  const built: string[] = [];
  s.cleanups.push(() => deleteStore(built, s.nixEnv));
  const build = async (e: Record<string, string>, tag: string) => {
    const file = `${s.workDir}/hook-${tag}.nix`;
    const salt = crypto.randomUUID();
    await Deno.writeTextFile(file, derivationExpr(`arca-hook-${tag}`, `echo ${salt} > $out`));
    const drv = (await sh("nix-instantiate", [file], { env: s.nixEnv })).trim();
    built.push(drv);
    const [ms, out] = await timedBuild(file, e);
    built.push(out);
    return ms;
  };
  // One of each untimed: the first hook run fills Deno's caches for the hook.
  await build(plain, "warm-a");
  await build(hooked, "warm-b");
  const without: number[] = [], withHook: number[] = [], added: number[] = [];
  for (let r = 0; r < s.runs * 2; r++) {
    let a: number, b: number;
    if (r % 2 === 0) {
      a = await build(plain, `p${r}`);
      b = await build(hooked, `h${r}`);
    } else {
      b = await build(hooked, `h${r}`);
      a = await build(plain, `p${r}`);
    }
    without.push(a);
    withHook.push(b);
    added.push(b - a);
  }
  const listed = await sh(Deno.execPath(), arcaArgs(["list"]), { env });
  const imported = listed.trim().split("\n").filter((l) => l.includes("arca-hook-h")).length;
  if (imported !== s.runs * 2) {
    throw new Error(`W9: the hook imported ${imported} of ${s.runs * 2} hooked builds`);
  }
  const rows: Row[] = [{
    workload: "W9 post-build hook (arca hook)",
    metric: "ms added to a nix-build",
    better: "lower",
    arca: stats(added),
    base: stats(without),
    baseline: "the nix-build itself, without a hook",
    absoluteMax: 100,
  }];
  const note =
    `W9: \`arca install-hook\` into a nix.conf of the bench's own, then ${
      s.runs * 2
    } pairs of \`nix-build\` of a one-file derivation (a fresh path each time), with and without ` +
    `post-build-hook, alternating; the hook (\`arca hook\` through its script, deno run) imported ` +
    `every hooked output into its cache. Arca's figure is the difference per pair; the baseline ` +
    `is the build without a hook (median ${stats(without).median.toFixed(0)} ms, with the hook ${
      stats(withHook).median.toFixed(0)
    } ms).`;
  return { rows, note };
}
