/**
 * W7: end to end. Delete the closure from the local store, then
 * `nix-store -r` it back from one server (signatures required), for Arca
 * and for nginx serving the flat `nix copy` directory, alternating.
 */
import { nixEnv } from "../tests/_run.ts";
import { type BenchClosure, deleteStore } from "./_closure.ts";
import { runMeasured, stats } from "./_lib.ts";
import type { Row } from "./_report.ts";
import { CLIENT_CPU, type Server } from "./_servers.ts";

/** Deletes the closure's outputs and substitutes them from `server`; returns seconds. */
async function substitute(c: BenchClosure, server: Server, publicKey: string): Promise<number> {
  const env = await nixEnv(); // a fresh client cache every time
  try {
    await deleteStore(c.paths, env);
    const m = await runMeasured("taskset", [
      "-c",
      CLIENT_CPU,
      "nix-store",
      "-r",
      c.top,
      "--option",
      "substituters",
      server.url,
      "--option",
      "trusted-public-keys",
      publicKey,
      "--option",
      "require-sigs",
      "true",
    ], { env, timeoutSeconds: 300 });
    if (m.code !== 0) {
      throw new Error(`nix-store -r from ${server.name} failed: ${m.stderr.slice(-2000)}`);
    }
    for (const p of c.paths) await Deno.lstat(p); // throws when a path did not come back
    return m.seconds;
  } finally {
    await Deno.remove(env.XDG_CACHE_HOME, { recursive: true }).catch(() => {});
  }
}

export async function benchSubstitute(
  c: BenchClosure,
  servers: [Server, Server],
  publicKey: string,
  runs: number,
): Promise<Row[]> {
  const secs: [number[], number[]] = [[], []];
  for (let r = 0; r < runs; r++) {
    for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) {
      secs[k].push(await substitute(c, servers[k], publicKey));
    }
  }
  const mb = c.narBytes / 1e6;
  return [{
    workload: `W7 nix-store -r of ${c.paths.length} paths`,
    metric: "NAR MB/s",
    better: "higher",
    arca: stats(secs[0].map((s) => mb / s)),
    base: stats(secs[1].map((s) => mb / s)),
    baseline: "nginx",
  }, {
    workload: `W7 nix-store -r of ${c.paths.length} paths`,
    metric: "seconds",
    better: "lower",
    arca: stats(secs[0]),
    base: stats(secs[1]),
    baseline: "nginx",
  }];
}
