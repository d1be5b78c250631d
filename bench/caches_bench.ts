/**
 * W1 (narinfo hits) on a server with a `[[caches]]` entry: the default cache
 * at `/` and the entry at `/team/`, both holding the same closure, and
 * optionally `/` of another checkout's server beside it (the one before a
 * change), over copies of one cache. Servers on core 0, wrk on core 1, rows
 * alternating; reports req/s and server CPU microseconds per request.
 *
 *   deno run -A bench/caches_bench.ts [--before DIR] [--runs 5] [--seconds 4]
 *
 * `DIR` is a checkout of Arca (e.g. `git archive <commit> | tar -x -C DIR`).
 * Needs Nix and wrk.
 */
import { parseArgs } from "node:util";
import { nixEnv, runOk } from "../tests/_run.ts";
import { freePort, sleep, treeCpuSeconds } from "./_lib.ts";
import { CLIENT_CPU, SERVER_CPU, wrk } from "./_servers.ts";
import { V8_FLAGS } from "../lib/cli/runtime_flags.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    before: { type: "string" },
    runs: { type: "string", default: "5" },
    seconds: { type: "string", default: "4" },
  },
});
const RUNS = Number(args.values.runs);
const SECONDS = Number(args.values.seconds);
const HERE = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const PATHS = 60;

interface Served {
  label: string;
  url: string;
  pid: number;
  list: string;
  stop(): Promise<void>;
}

async function main(): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "arca-caches-bench-" });
  const nix = await nixEnv();
  const env = {
    ...nix,
    HOME: `${work}/home`,
    XDG_CONFIG_HOME: `${work}/home/.config`,
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
  };
  const stops: (() => Promise<void>)[] = [];
  let top = "";
  let all: string[] = [];
  try {
    // PATHS tiny paths and a top path referring to every one: one nix-build.
    const salt = crypto.randomUUID();
    await Deno.writeTextFile(
      `${work}/closure.nix`,
      `let mk = i: derivation { name = "w1-\${toString i}"; system = builtins.currentSystem;
  builder = "/bin/sh"; args = [ "-c" "echo \${toString i} ${salt} > $out" ]; };
deps = map mk (builtins.genList (x: x) ${PATHS});
in derivation { name = "w1-top"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "echo \${toString deps} > $out" ]; }\n`,
    );
    top = (await runOk("nix-build", [`${work}/closure.nix`, "--no-out-link"], { env: nix }))
      .trim();
    all = (await runOk("nix-store", ["-qR", top], { env: nix })).trim().split("\n");

    const cache = `${work}/cache`;
    await runOk(Deno.execPath(), arca(HERE, ["--cache-dir", cache, "import-closure", top]), {
      env,
    });
    await runOk("cp", ["-a", cache, `${work}/plain`]);
    await Deno.mkdir(`${cache}/caches`);
    await runOk("cp", ["-a", `${work}/plain`, `${cache}/caches/team`]);
    await Deno.writeTextFile(`${work}/caches.toml`, `[[caches]]\nname = "team"\n`);
    await Deno.writeTextFile(`${work}/plain.toml`, "");
    const hashes = all.map((p) => p.slice(11, 43));
    const list = async (name: string, prefix: string) => {
      const f = `${work}/${name}.txt`;
      await Deno.writeTextFile(f, hashes.map((h) => `${prefix}/${h}.narinfo`).join("\n") + "\n");
      return f;
    };
    const rootList = await list("root", "");
    const teamList = await list("team", "/team");

    const rows: Served[] = [];
    const start = async (label: string, tree: string, dir: string, conf: string, l: string) => {
      const s = await serve(label, tree, dir, conf, env, l);
      stops.push(s.stop);
      rows.push(s);
      return s;
    };
    if (args.values.before) {
      await start("before, /", args.values.before, `${work}/plain`, `${work}/plain.toml`, rootList);
    }
    const after = await start("after, /", HERE, cache, `${work}/caches.toml`, rootList);
    rows.push({ ...after, label: "after, /team/", list: teamList });

    const results = new Map<string, { rps: number[]; us: number[] }>();
    for (const c of [16, 64]) {
      for (const r of rows) await wrk(r.url, r.list, c, 1, work);
      for (let run = 0; run < RUNS; run++) {
        for (const r of run % 2 === 0 ? rows : [...rows].reverse()) {
          const cpu0 = treeCpuSeconds(r.pid);
          const w = await wrk(r.url, r.list, c, SECONDS, work);
          const cpu = treeCpuSeconds(r.pid) - cpu0;
          if (w.statusErrors || w.ioErrors || !w.requests) {
            throw new Error(`${r.label}: ${w.statusErrors} bad statuses, ${w.ioErrors} I/O errors`);
          }
          const key = `${r.label} c=${c}`;
          const e = results.get(key) ?? { rps: [], us: [] };
          e.rps.push(w.requests / w.seconds);
          e.us.push(cpu * 1e6 / w.requests);
          results.set(key, e);
        }
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(
      `W1 narinfo hits, ${all.length} paths, server on core ${SERVER_CPU}, wrk on core ${CLIENT_CPU}; ` +
        `load ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`,
    );
    for (const [k, v] of results) {
      console.log(
        `${k.padEnd(20)} req/s ${median(v.rps).toFixed(0).padStart(7)}   CPU us/req ${
          median(v.us).toFixed(2)
        } [${v.us.map((x) => x.toFixed(2)).join(" ")}]`,
      );
    }
  } finally {
    for (const s of stops) await s().catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
    if (top) await runOk("nix-store", ["--delete", ...all], { env: nix }).catch(() => {});
  }
}

function arca(tree: string, a: string[]): string[] {
  return ["run", "-A", "--quiet", `--v8-flags=${V8_FLAGS}`, `${tree}/main.ts`, ...a];
}

async function serve(
  label: string,
  tree: string,
  dir: string,
  conf: string,
  env: Record<string, string>,
  list: string,
): Promise<Served> {
  const port = freePort();
  const child = new Deno.Command("taskset", {
    args: [
      "-c",
      SERVER_CPU,
      Deno.execPath(),
      ...arca(tree, ["--config", conf, "--cache-dir", dir, "serve", "--bind", `127.0.0.1:${port}`]),
    ],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  };
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`${url}/nix-cache-info`);
      await r.body?.cancel();
      if (r.ok) return { label, url, pid: child.pid, list, stop };
    } catch { /* not listening yet */ }
    await sleep(50);
  }
  await stop();
  throw new Error(`${label}: the server did not answer within 30 s`);
}

await main();
