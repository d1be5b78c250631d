/**
 * W8 alone: a cache of many small paths, `arca serve` started on it a few
 * times, milliseconds to the first narinfo 200 (and `--version` for the
 * floor Deno itself sets). For working on startup without the whole bench:
 * `deno run -A bench/cold_start.ts [paths] [runs]`.
 */
import { makeManyPaths } from "./_many_paths.ts";
import { startArca } from "./_servers.ts";
import { arcaEnv, makeKey } from "../tests/_cache_fixture.ts";
import { arcaArgs, nixEnv } from "../tests/_run.ts";
import { stats } from "./_lib.ts";

const count = Number(Deno.args[0] ?? 10_000);
const runs = Number(Deno.args[1] ?? 7);
const work = await Deno.makeTempDir({ prefix: "arca-cold-" });
try {
  const nix = await nixEnv();
  const env = arcaEnv(nix, work, `${work}/unused-cache`);
  const key = await makeKey(work, "arca-bench-1", env);
  const many = await makeManyPaths(count, `${work}/many`, `${work}/flat`, key.secret);
  const probe = `/${many.hashParts[count >> 1]}.narinfo`;
  const version: number[] = [];
  const serve: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await new Deno.Command(Deno.execPath(), { args: arcaArgs(["--version"]), env }).output();
    version.push(performance.now() - t0);
    const s = await startArca({ ...env, ARCA_DIR: `${work}/many` }, probe);
    serve.push(s.startupMs);
    await s.stop();
  }
  const show = (xs: number[]) => {
    const s = stats(xs);
    return `${s.median.toFixed(0)} ms (${s.min.toFixed(0)}-${s.max.toFixed(0)})`;
  };
  console.log(`--version: ${show(version)}`);
  console.log(`serve, first narinfo 200 on ${count} paths: ${show(serve)}`);
} finally {
  await Deno.remove(work, { recursive: true });
}
