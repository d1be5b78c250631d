/**
 * W4: one big NAR. A store path holding a single file of mixed data (a
 * quarter random, the rest a tar of /usr/lib: compressible) is imported into
 * Arca and copied with `nix copy --to file://…?compression=zstd` for nginx.
 * Then, alternating, curl (pinned to the client core) downloads the whole
 * NAR file and a 10 MiB Range from its middle from each server, while the
 * server's RSS is sampled: issue 3 wants Arca under 150 MB while it serves a
 * 1 GiB NAR.
 */
import { buildBenchPath } from "./_build_path.ts";
import { deleteStore } from "./_closure.ts";
import { memoryKiB, stats, treeCpuSeconds, treeRssMiB } from "./_lib.ts";
import type { Row } from "./_report.ts";
import { CLIENT_CPU, type Server, startArca, startNginx } from "./_servers.ts";
import { arcaImport, type ImportSetup, nixCopy } from "./import_bench.ts";

export interface BigNarSetup {
  /** Size of the single file in the store path. */
  bytes: number;
  runs: number;
  keyFile: string;
  nixEnv: Record<string, string>;
  /** Environment for arca without ARCA_DIR. */
  arcaEnv: Record<string, string>;
  workDir: string;
  /** Where to register undo steps, so a failing run still cleans up. */
  cleanups: (() => Promise<void>)[];
}

const MiB = 1 << 20;
const RANGE_BYTES = 10 * MiB;

interface Fetched {
  code: number;
  bytes: number;
  seconds: number;
  firstByteSeconds: number;
  /** Highest RSS of the server's process tree sampled during the transfer. */
  serverRssMiB: number;
  /** CPU seconds of the server's process tree during the transfer. */
  serverCpuSeconds: number;
}

/** One GET with curl on the client core, sampling the server's RSS every 10 ms meanwhile. */
async function curlGet(url: string, serverPid: number, range?: [number, number]): Promise<Fetched> {
  const args = ["-c", CLIENT_CPU, "curl", "-sS", "-o", "/dev/null"];
  if (range) args.push("-r", `${range[0]}-${range[1] - 1}`);
  args.push("-w", "%{http_code} %{size_download} %{time_total} %{time_starttransfer}", url);
  let rss = treeRssMiB(serverPid);
  const cpu0 = treeCpuSeconds(serverPid);
  const timer = setInterval(() => rss = Math.max(rss, treeRssMiB(serverPid)), 10);
  const out = await new Deno.Command("taskset", { args, stdout: "piped", stderr: "piped" })
    .output()
    .finally(() => clearInterval(timer));
  const text = new TextDecoder().decode(out.stdout).trim();
  const [code, bytes, total, first] = text.split(" ").map(Number);
  if (!out.success || !Number.isFinite(total)) {
    throw new Error(`curl ${url} failed: ${text} ${new TextDecoder().decode(out.stderr)}`);
  }
  return {
    code,
    bytes,
    seconds: total,
    firstByteSeconds: first,
    serverRssMiB: rss,
    serverCpuSeconds: treeCpuSeconds(serverPid) - cpu0,
  };
}

/** The narinfo's URL, FileSize and NarHash from one server. */
async function narOf(server: Server, hashPart: string) {
  const r = await fetch(`${server.url}/${hashPart}.narinfo`);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${server.name}: ${hashPart}.narinfo answered ${r.status}`);
  const field = (k: string) => new RegExp(`^${k}: (.*)$`, "m").exec(text)?.[1] ?? "";
  return {
    url: `${server.url}/${field("URL")}`,
    size: Number(field("FileSize")),
    narHash: field("NarHash"),
  };
}

/** Builds the big path, fills both caches, measures both servers; returns the W4 rows and a note. */
export async function benchBigNar(s: BigNarSetup): Promise<{ rows: Row[]; note: string }> {
  const random = Math.floor(s.bytes / 4);
  const script = [
    "mkdir -p $out",
    `{ head -c ${random} /dev/urandom; tar cf - /usr/lib 2>/dev/null | head -c ${
      s.bytes - random
    }; }` +
    " > $out/blob",
    // A short tar would make a smaller NAR than asked for: fail the build instead.
    `test $(stat -c %s $out/blob) -eq ${s.bytes}`,
  ].join("; ");
  const { path, drv } = await buildBenchPath("arca-bench-big", script, s.nixEnv, s.workDir);
  s.cleanups.push(() => deleteStore([path, drv], s.nixEnv));
  const narBytes = JSON.parse(
    new TextDecoder().decode(
      (await new Deno.Command("nix", {
        args: ["path-info", "--json", path],
        env: s.nixEnv,
        stdout: "piped",
      }).output()).stdout,
    ),
  )[0].narSize as number;

  const setup: ImportSetup = {
    top: path,
    narBytes,
    pathCount: 1,
    keyFile: s.keyFile,
    nixEnv: s.nixEnv,
    arcaEnv: s.arcaEnv,
    workDir: s.workDir,
  };
  const arcaDir = `${s.workDir}/big-arca`, nixDir = `${s.workDir}/big-nix`;
  s.cleanups.push(() => Deno.remove(arcaDir, { recursive: true }).catch(() => {}));
  s.cleanups.push(() => Deno.remove(nixDir, { recursive: true }).catch(() => {}));
  const imp = await arcaImport(setup, arcaDir, "zstd");
  const cp = await nixCopy(setup, nixDir, "zstd");

  const servers: Server[] = [];
  s.cleanups.push(async () => {
    for (const x of servers.splice(0)) await x.stop();
  });
  servers.push(await startArca({ ...s.arcaEnv, ARCA_DIR: arcaDir }));
  servers.push(await startNginx(nixDir, `${s.workDir}/big-nginx`));
  const hashPart = path.slice("/nix/store/".length, "/nix/store/".length + 32);
  const nars = [await narOf(servers[0], hashPart), await narOf(servers[1], hashPart)];
  if (nars[0].narHash !== nars[1].narHash) {
    throw new Error(`W4: Arca and nginx serve different NarHash values for ${path}`);
  }

  // Untimed first pass: Arca checks every chunk of a NAR before its first
  // 200, and both sides then read from the page cache.
  for (let k = 0; k < 2; k++) await curlGet(nars[k].url, servers[k].pid);
  const full: [Fetched[], Fetched[]] = [[], []];
  const part: [Fetched[], Fetched[]] = [[], []];
  for (let r = 0; r < s.runs; r++) {
    for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const f = await curlGet(nars[k].url, servers[k].pid);
      if (f.code !== 200 || f.bytes !== nars[k].size) {
        throw new Error(
          `W4: ${servers[k].name} answered ${f.code} with ${f.bytes} of ${nars[k].size} bytes`,
        );
      }
      full[k].push(f);
      // Two Range requests per run: they are short.
      for (let i = 0; i < 2; i++) {
        const start = Math.floor(nars[k].size / 2) - RANGE_BYTES / 2;
        const g = await curlGet(nars[k].url, servers[k].pid, [start, start + RANGE_BYTES]);
        if (g.code !== 206 || g.bytes !== RANGE_BYTES) {
          throw new Error(
            `W4: ${servers[k].name} answered a Range with ${g.code}, ${g.bytes} bytes`,
          );
        }
        part[k].push(g);
      }
    }
  }
  const arcaHwm = (memoryKiB(servers[0].pid)?.hwm ?? NaN) / 1024;
  for (const x of servers.splice(0)) await x.stop();

  const gib = (narBytes / 2 ** 30).toFixed(narBytes >= 2 ** 30 ? 0 : 2);
  const w = `W4 one ${
    narBytes >= 2 ** 30 ? `${gib} GiB` : `${Math.round(narBytes / MiB)} MiB`
  } NAR`;
  const both = (xs: [Fetched[], Fetched[]], f: (x: Fetched) => number) => ({
    arca: stats(xs[0].map(f)),
    base: stats(xs[1].map(f)),
  });
  const wire = (x: Fetched) => x.bytes / 1e6 / x.seconds;
  const perGb = (xs: Fetched[]) =>
    xs.reduce((n, x) => n + x.serverCpuSeconds, 0) / (xs.reduce((n, x) => n + x.bytes, 0) / 1e9);
  const mbNar = narBytes / 1e6;
  const rows: Row[] = [
    {
      workload: `${w} import`,
      metric: "NAR MB/s (1 run)",
      better: "higher",
      arca: stats([mbNar / imp.seconds]),
      base: stats([mbNar / cp.seconds]),
      baseline: "nix copy --to file://?compression=zstd",
      target: 1.5,
    },
    {
      workload: `${w} import`,
      metric: "peak RSS MiB (1 run)",
      better: "lower",
      arca: stats([imp.peakRssMiB]),
      base: stats([cp.peakRssMiB]),
      baseline: "nix copy --to file://?compression=zstd",
      absoluteMax: 150,
    },
    {
      workload: `${w} download c=1`,
      metric: "MB/s (wire)",
      better: "higher",
      ...both(full, wire),
      baseline: "nginx",
      target: 0.9,
    },
    {
      workload: `${w} download c=1`,
      // Over all runs: one download is a few /proc ticks.
      metric: "server CPU s per GB (all runs)",
      better: "lower",
      arca: stats([perGb(full[0])]),
      base: stats([perGb(full[1])]),
      baseline: "nginx",
      target: 1.2,
    },
    {
      workload: `${w} download c=1`,
      metric: "server peak RSS MiB",
      better: "lower",
      ...both(full, (x) => x.serverRssMiB),
      baseline: "nginx (master+worker)",
      absoluteMax: 150,
    },
    {
      workload: `${w} Range 10 MiB (middle)`,
      metric: "ms to first byte",
      better: "lower",
      ...both(part, (x) => x.firstByteSeconds * 1000),
      baseline: "nginx",
      target: 2,
    },
    {
      workload: `${w} Range 10 MiB (middle)`,
      metric: "MB/s (wire)",
      better: "higher",
      ...both(part, wire),
      baseline: "nginx",
    },
  ];
  const note = `W4: ${path.slice(44)} holds one file of ${(s.bytes / MiB).toFixed(0)} MiB ` +
    `(a quarter /dev/urandom, then a tar of /usr/lib), ${mbNar.toFixed(0)} MB of NAR; files ` +
    `served: Arca ${(nars[0].size / 1e6).toFixed(1)} MB, nginx ${
      (nars[1].size / 1e6).toFixed(1)
    } MB. ` +
    `curl (pinned to core ${CLIENT_CPU}) fetches the whole file once untimed per server, then ` +
    `${s.runs} whole downloads and ${2 * s.runs} Range requests (the middle 10 MiB) per server, ` +
    `alternating. Server RSS is the process tree's VmRSS sampled every 10 ms during each download; ` +
    `the Arca server's VmHWM over its whole life (start, checks, all downloads) was ` +
    `${arcaHwm.toFixed(1)} MiB. The imports ran once each.`;
  return { rows, note };
}
