/**
 * The benchmark suite: Arca side by side with real baselines (nginx serving a
 * `nix copy --to file://` directory, `nix copy` itself) in one run on one
 * machine, reported as ratios. Prints the table and writes bench/RESULTS.md.
 *
 *   deno task bench            full: ~1 GB closure, a 1 GiB NAR, a ~100 MB version
 *                              series, 5 runs per metric
 *   deno task bench --quick    ~100 MB closure, a 128 MiB NAR, a ~30 MB series,
 *                              3 runs, under 3 minutes (CI)
 *   --out FILE                 write the report there instead of bench/RESULTS.md
 *
 * Needs root, Nix, nginx and wrk (installed from Debian when missing), and
 * cleans up its caches, store paths and servers also when it fails.
 */
import { arcaArgs, nixEnv } from "../tests/_run.ts";
import { arcaEnv, makeKey } from "../tests/_cache_fixture.ts";
import { type BenchClosure, buildClosure, type ClosureSpec, deleteClosure } from "./_closure.ts";
import { killMeasuredChildren, machineInfo, sh, writeReport } from "./_lib.ts";
import { resultsMarkdown, resultsTable, type Row } from "./_report.ts";
import { CLIENT_CPU, type Server, SERVER_CPU, startArca, startNginx } from "./_servers.ts";
import { benchImport, type ImportSetup } from "./import_bench.ts";
import {
  benchNarinfoHits,
  benchNarinfoMisses,
  benchNars,
  benchStartup,
  collectNars,
  randomHashParts,
  warmUp,
} from "./serve_bench.ts";
import { benchSubstitute } from "./substitute_bench.ts";
import { benchNarEncode } from "./nar_encode.ts";
import { benchBigNar } from "./big_nar_bench.ts";
import { benchSeries } from "./series_bench.ts";
import { benchHook } from "./hook_bench.ts";
import { makeManyPaths } from "./_many_paths.ts";

const quick = Deno.args.includes("--quick");
const RUNS = quick ? 3 : 5;
const LOAD_SECONDS = quick ? 2 : 5;
const SPEC: ClosureSpec = quick
  ? { smallPaths: 40, smallBytes: 50e6, largePaths: 1, totalBytes: 100e6 }
  : { smallPaths: 250, smallBytes: 550e6, largePaths: 3, totalBytes: 1e9 };
/** W4: the single big file; W6: bytes of files in the first version of the series. */
const BIG_NAR_BYTES = quick ? 128 * 2 ** 20 : 2 ** 30;
const SERIES_BYTES = quick ? 30e6 : 100e6;
/** W8: paths in the cache both servers start on (issue 16: first narinfo within 50 ms). */
const MANY_PATHS = 10_000;
const outAt = Deno.args.indexOf("--out");
const RESULTS = outAt >= 0
  ? Deno.args[outAt + 1]
  : new URL("./RESULTS.md", import.meta.url).pathname;

/** Installs nginx and wrk from Debian when missing, without letting nginx start as a service. */
async function ensureBaselines(): Promise<void> {
  const have = async (cmd: string) =>
    (await new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" }).output())
      .success;
  const missing = [];
  for (const c of ["nginx", "wrk"]) if (!(await have(c))) missing.push(c);
  if (missing.length === 0) return;
  const policy = "/usr/sbin/policy-rc.d";
  let created = false;
  try {
    await Deno.writeTextFile(policy, "#!/bin/sh\nexit 101\n", { createNew: true, mode: 0o755 });
    created = true;
  } catch { /* one exists already: leave it alone */ }
  try {
    console.error(`bench: installing ${missing.join(", ")} from Debian`);
    await sh("apt-get", ["install", "-y", ...missing], {
      env: { DEBIAN_FRONTEND: "noninteractive" },
    });
  } finally {
    if (created) await Deno.remove(policy);
  }
}

const cleanups: (() => Promise<void>)[] = [];
async function cleanup(): Promise<void> {
  killMeasuredChildren();
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch (e) {
      console.error(`bench: cleanup: ${(e as Error).message}`);
    }
  }
}

function log(msg: string): void {
  console.error(`bench [${((performance.now() - T0) / 1000).toFixed(0)} s]: ${msg}`);
}
const T0 = performance.now();

async function main(): Promise<void> {
  await ensureBaselines();
  const machine = await machineInfo();
  const work = await Deno.makeTempDir({ prefix: "arca-bench-" });
  cleanups.push(() => Deno.remove(work, { recursive: true }));
  const nix = await nixEnv();
  cleanups.push(() => Deno.remove(nix.XDG_CACHE_HOME, { recursive: true }));
  const aEnv = arcaEnv(nix, work, `${work}/unused-cache`);
  // Warm Deno's module cache so the first timed `deno run` does not pay for it.
  await sh(Deno.execPath(), arcaArgs(["--version"]), { env: aEnv });
  const key = await makeKey(work, "arca-bench-1", aEnv);

  log(
    `building the closure (${SPEC.smallPaths + SPEC.largePaths + 1} paths, ~${
      SPEC.totalBytes / 1e6
    } MB)`,
  );
  const closure: BenchClosure = await buildClosure(SPEC, nix, work);
  cleanups.push(() => deleteClosure(closure, nix));
  const mb = closure.narBytes / 1e6;
  log(`built ${closure.paths.length} paths, ${mb.toFixed(0)} MB of NAR`);

  const setup: ImportSetup = {
    top: closure.top,
    narBytes: closure.narBytes,
    pathCount: closure.paths.length,
    keyFile: key.secret,
    nixEnv: nix,
    arcaEnv: aEnv,
    workDir: work,
  };
  const rows: Row[] = [];
  log("W0 NAR encode + sha256");
  rows.push(await benchNarEncode(quick, RUNS));
  log("W5 import, zstd");
  const imp = await benchImport(setup, "zstd", RUNS);
  rows.push(...imp.rows);

  const hashes = closure.paths.map((p) => p.slice("/nix/store/".length, "/nix/store/".length + 32));
  const hitsFile = `${work}/hits.txt`;
  await Deno.writeTextFile(hitsFile, hashes.map((h) => `/${h}.narinfo`).join("\n") + "\n");
  const missFile = `${work}/misses.txt`;
  await Deno.writeTextFile(
    missFile,
    randomHashParts(1000).map((h) => `/${h}.narinfo`).join("\n") + "\n",
  );

  const serveEnv = { ...aEnv, ARCA_DIR: imp.arcaDir };
  const startA = () => startArca(serveEnv);
  const startN = () => startNginx(imp.nixDir, `${work}/nginx`);
  const servers: Server[] = [];
  cleanups.push(async () => {
    for (const s of servers) await s.stop();
  });
  servers.push(await startA(), await startN());
  const pair = servers as [Server, Server];

  const nars = [await collectNars(pair[0], hashes), await collectNars(pair[1], hashes)];
  for (const h of hashes) {
    if (nars[0].narHashes.get(h) !== nars[1].narHashes.get(h)) {
      throw new Error(`${h}: Arca and nginx serve different NarHash values`);
    }
  }
  const narFiles = [`${work}/nars-arca.txt`, `${work}/nars-nginx.txt`] as [string, string];
  for (const k of [0, 1]) await Deno.writeTextFile(narFiles[k], nars[k].paths.join("\n") + "\n");

  const spec = { seconds: LOAD_SECONDS, runs: RUNS, workDir: work };
  log("warming up both servers");
  await warmUp(pair, [hitsFile, hitsFile], work);
  await warmUp(pair, narFiles, work);
  log("W1 narinfo hits");
  rows.push(...await benchNarinfoHits(pair, hitsFile, [1, 16, 64], spec));
  log("W2 narinfo misses");
  rows.push(...await benchNarinfoMisses(pair, missFile, quick ? [16] : [1, 16, 64], spec));
  log("W3 NAR downloads");
  rows.push(...await benchNars(pair, narFiles, [1, 16], spec));
  log("W7 nix-store -r from each server");
  rows.push(...await benchSubstitute(closure, pair, key.pub, RUNS));
  for (const s of servers.splice(0)) await s.stop();

  log(`W8 cold start and idle RSS (a cache of ${MANY_PATHS} paths)`);
  const many = await makeManyPaths(
    MANY_PATHS,
    `${work}/many-arca`,
    `${work}/many-nginx`,
    key.secret,
  );
  const probe = `/${many.hashParts[MANY_PATHS >> 1]}.narinfo`;
  rows.push(
    ...await benchStartup(
      [
        () => startArca({ ...aEnv, ARCA_DIR: `${work}/many-arca` }, probe),
        () => startNginx(`${work}/many-nginx`, `${work}/nginx-many`, probe),
      ],
      RUNS,
      `${MANY_PATHS} paths`,
    ),
  );

  log("W9 post-build hook");
  const hook = await benchHook({ nixEnv: nix, arcaEnv: aEnv, workDir: work, runs: RUNS, cleanups });

  const extra = { keyFile: key.secret, nixEnv: nix, arcaEnv: aEnv, workDir: work, cleanups };
  log(`W4 one big NAR (${BIG_NAR_BYTES / 2 ** 20} MiB file)`);
  const big = await benchBigNar({ ...extra, bytes: BIG_NAR_BYTES, runs: RUNS });
  rows.push(...big.rows);
  log(`W6 version series (~${SERIES_BYTES / 1e6} MB per version)`);
  const series = await benchSeries({ ...extra, bytes: SERIES_BYTES });
  rows.push(...series.rows);
  rows.push(...hook.rows);

  if (!quick) {
    log("W5 import, xz (on a ~150 MB sub-closure)");
    rows.push(...(await xzImport(setup, closure)).rows);
  }

  const notes = [
    `Mode: ${
      quick ? "--quick" : "full"
    }; every metric is the median of ${RUNS} runs with min-max, ` +
    `Arca and baseline runs alternating; "noisy" marks a spread (max-min) above 20% of the median.`,
    `Arca/baseline is always Arca divided by the baseline; the "better" column says which way is better ` +
    `(higher: a ratio above 1 is good; lower: a ratio below 1 is good).`,
    `Data: ${closure.paths.length} store paths built with Nix from copies of /usr/share and /usr/lib ` +
    `directories plus ${SPEC.largePaths} large tar slice(s) of /usr/lib, ${
      mb.toFixed(0)
    } MB of NAR; ` +
    `files served: Arca ${(nars[0].fileBytes / 1e6).toFixed(1)} MB, ` +
    `nginx ${(nars[1].fileBytes / 1e6).toFixed(1)} MB (zstd). The top path refers to every ` +
    `other path (${closure.paths.length - 1} references).`,
    `Pinning: both servers run with \`taskset -c ${SERVER_CPU}\` (one core each, one at a time under load); ` +
    `wrk (1 thread, keep-alive) and nix-store -r run with \`taskset -c ${CLIENT_CPU}\`. ` +
    `Imports are not pinned. wrk runs ${LOAD_SECONDS} s per measurement after a 1 s warm-up.`,
    `Arca: \`arca serve\` as its own process (deno run, kv backend) over a cache filled by ` +
    `\`arca import-closure --compression zstd\`. nginx: 1.22, worker_processes 1, sendfile, ` +
    `access_log off, open_file_cache, keepalive_requests 1000000, root = the ` +
    `\`nix copy --to file://DIR?compression=zstd\` directory.`,
    `W1 cycles over the ${hashes.length} narinfo URLs of the closure; W2 over 1000 random hashes ` +
    `(all 404); W3 cycles over every NAR URL of the closure (each server's own URLs), MB/s is bytes ` +
    `received by wrk per second. W5 CPU s are the child's user+sys (with its own children); peak RSS is ` +
    `its VmHWM sampled every 20 ms.`,
    `W8: a cache of ${MANY_PATHS} small paths (bench/_many_paths.ts: one file each, up to three ` +
    `references, written by Arca's own import), for nginx the same narinfos as files; each server ` +
    `is started ${RUNS} times, alternating, and polled every 2 ms for one narinfo (of the middle ` +
    `path) until a 200. RSS is the whole process tree (nginx: master + worker) after 1 s idle.`,
    `Ratios cancel machine speed, not competing load: check the load average above; a noisy row ` +
    `means other work ran at the same time.`,
    `Profile any Arca process with \`deno run --inspect=127.0.0.1:9229 …\` and ` +
    `\`deno run -A bench/cpu_profile.ts 127.0.0.1:9229 SECONDS\` (self time per function).`,
    big.note,
    series.note,
    hook.note,
  ];
  // In workload order (W0…W8); rows of one workload keep their order.
  const wNum = (r: Row) => Number(/^W(\d+)/.exec(r.workload)?.[1] ?? 99);
  rows.sort((a, b) => wNum(a) - wNum(b));
  const table = resultsTable(rows);
  console.log(table);
  await writeReport(
    RESULTS,
    resultsMarkdown(`Arca benchmark results (${quick ? "quick" : "full"})`, machine, rows, notes),
  );
  log(`wrote ${RESULTS}`);
}

/** W5 with xz on a sub-closure of about 150 MB: xz is too slow to run 5 times over 1 GB. */
async function xzImport(setup: ImportSetup, c: BenchClosure) {
  const info = JSON.parse(
    await sh("nix", ["path-info", "--json", "-S", ...c.paths], { env: setup.nixEnv }),
  ) as {
    path: string;
    closureSize: number;
  }[];
  const pick = info.reduce((a, b) =>
    Math.abs(Math.log(b.closureSize / 150e6)) < Math.abs(Math.log(a.closureSize / 150e6)) ? b : a
  );
  const count =
    (await sh("nix-store", ["-qR", pick.path], { env: setup.nixEnv })).trim().split("\n").length;
  const res = await benchImport(
    { ...setup, top: pick.path, narBytes: pick.closureSize, pathCount: count },
    "xz",
    RUNS,
  );
  await Deno.remove(res.arcaDir, { recursive: true });
  await Deno.remove(res.nixDir, { recursive: true });
  return res;
}

let code = 0;
const onSignal = () => {
  console.error("bench: interrupted, cleaning up");
  cleanup().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);
try {
  await main();
} catch (e) {
  console.error(`bench: failed: ${(e as Error).stack ?? e}`);
  code = 1;
} finally {
  await cleanup();
}
Deno.exit(code);
