/**
 * Builds one store path for a benchmark from a shell script, remembering the
 * derivation too, so the output and its .drv can both be deleted afterwards
 * (also when the build fails: then the .drv goes at once).
 */
import { derivationExpr } from "../tests/_run.ts";
import { deleteStore } from "./_closure.ts";
import { sh } from "./_lib.ts";

export interface BuiltPath {
  path: string;
  drv: string;
}

/** Instantiates and builds `script` (run by /bin/sh, output in `$out`) as `name`. */
export async function buildBenchPath(
  name: string,
  script: string,
  env: Record<string, string>,
  workDir: string,
): Promise<BuiltPath> {
  const file = `${workDir}/${name}-${crypto.randomUUID()}.nix`;
  await Deno.writeTextFile(file, derivationExpr(name, script));
  let drv: string;
  try {
    drv = (await sh("nix-instantiate", [file], { env })).trim();
  } finally {
    await Deno.remove(file);
  }
  try {
    const path = (await sh("nix-store", ["-r", drv], { env })).trim();
    return { path, drv };
  } catch (e) {
    await deleteStore([drv], env).catch(() => {});
    throw e;
  }
}
