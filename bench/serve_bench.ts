/**
 * Serving workloads, Arca against nginx on the same closure:
 * W1 narinfo hits, W2 narinfo misses, W3 every NAR of the closure (wrk with
 * a Lua script cycling through URL lists; servers on core 0, wrk on core 1),
 * and W8 cold start to the first /nix-cache-info 200 plus idle RSS.
 */
import { sleep, stats, treeCpuSeconds, treeRssMiB } from "./_lib.ts";
import type { Row } from "./_report.ts";
import { type Server, wrk, type WrkResult } from "./_servers.ts";

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

/** Random valid-looking store hash parts (32 nix32 characters). */
export function randomHashParts(n: number): string[] {
  return Array.from({ length: n }, () => {
    const b = crypto.getRandomValues(new Uint8Array(32));
    return [...b].map((x) => NIX32[x & 31]).join("");
  });
}

export interface NarList {
  /** URL paths of the NARs, one per store path. */
  paths: string[];
  /** Sum of the compressed file sizes (what one pass over the list transfers). */
  fileBytes: number;
  /** NarHash per hash part, to check both servers hold the same content. */
  narHashes: Map<string, string>;
}

/** Fetches every narinfo from `server` (all must be 200) and lists the NAR URLs. */
export async function collectNars(server: Server, hashParts: string[]): Promise<NarList> {
  const out: NarList = { paths: [], fileBytes: 0, narHashes: new Map() };
  for (const h of hashParts) {
    const r = await fetch(`${server.url}/${h}.narinfo`);
    const text = await r.text();
    if (r.status !== 200) throw new Error(`${server.name}: ${h}.narinfo answered ${r.status}`);
    const field = (k: string) => new RegExp(`^${k}: (.*)$`, "m").exec(text)?.[1];
    const url = field("URL"), size = field("FileSize"), narHash = field("NarHash");
    if (!url || !narHash) throw new Error(`${server.name}: ${h}.narinfo lacks URL or NarHash`);
    out.paths.push(`/${url}`);
    out.fileBytes += Number(size ?? 0);
    out.narHashes.set(h, narHash);
  }
  return out;
}

export interface LoadSpec {
  connections: number;
  seconds: number;
  runs: number;
  workDir: string;
}

/** Runs wrk against both servers, alternating, `runs` times; checks every answer's status class. */
async function load(
  servers: [Server, Server],
  lists: [string, string],
  spec: LoadSpec,
  expectStatusErrors: boolean,
): Promise<[WrkResult[], WrkResult[]]> {
  const res: [WrkResult[], WrkResult[]] = [[], []];
  for (let r = 0; r < spec.runs; r++) {
    for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const cpu0 = treeCpuSeconds(servers[k].pid);
      const w = await wrk(servers[k].url, lists[k], spec.connections, spec.seconds, spec.workDir);
      w.serverCpuSeconds = treeCpuSeconds(servers[k].pid) - cpu0;
      const bad = expectStatusErrors ? w.requests - w.statusErrors : w.statusErrors;
      if (bad > 0 || w.ioErrors > 0 || w.requests === 0) {
        throw new Error(
          `${servers[k].name}: ${bad} answers of the wrong status, ${w.ioErrors} I/O errors ` +
            `in ${w.requests} requests`,
        );
      }
      res[k].push(w);
    }
  }
  return res;
}

/** A short untimed pass so both servers are warm (JIT, page cache, open file cache). */
export async function warmUp(servers: Server[], lists: string[], workDir: string): Promise<void> {
  for (let k = 0; k < servers.length; k++) await wrk(servers[k].url, lists[k], 16, 1, workDir);
}

/** W1: narinfo hits over a list of distinct paths, at each concurrency. */
export async function benchNarinfoHits(
  servers: [Server, Server],
  listFile: string,
  concurrencies: number[],
  spec: Omit<LoadSpec, "connections">,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of concurrencies) {
    const [a, n] = await load(servers, [listFile, listFile], { ...spec, connections: c }, false);
    const w = `W1 narinfo hits c=${c}`;
    rows.push(
      requestsPerSecond(w, a, n),
      cpuPerRequest(w, a, n),
      {
        workload: w,
        metric: "p50 ms",
        better: "lower",
        arca: stats(a.map((x) => x.p50Ms)),
        base: stats(n.map((x) => x.p50Ms)),
        baseline: "nginx",
      },
      {
        workload: w,
        metric: "p99 ms",
        better: "lower",
        arca: stats(a.map((x) => x.p99Ms)),
        base: stats(n.map((x) => x.p99Ms)),
        baseline: "nginx",
      },
    );
  }
  return rows;
}

/** W2: narinfo misses (random hashes, all must be 404), at each concurrency. */
export async function benchNarinfoMisses(
  servers: [Server, Server],
  listFile: string,
  concurrencies: number[],
  spec: Omit<LoadSpec, "connections">,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of concurrencies) {
    const [a, n] = await load(servers, [listFile, listFile], { ...spec, connections: c }, true);
    const w = `W2 narinfo misses c=${c}`;
    rows.push(requestsPerSecond(w, a, n), cpuPerRequest(w, a, n));
  }
  return rows;
}

/** Requests per second against nginx; the narinfo target is at least as many. */
function requestsPerSecond(workload: string, a: WrkResult[], n: WrkResult[]): Row {
  return {
    workload,
    metric: "req/s",
    better: "higher",
    arca: stats(a.map(rps)),
    base: stats(n.map(rps)),
    baseline: "nginx",
    target: 1.0,
  };
}

/**
 * Server CPU time per request: unlike req/s it does not depend on what else
 * the machine runs, so it shows where a noisy req/s comparison really stands.
 */
function cpuPerRequest(workload: string, a: WrkResult[], n: WrkResult[]): Row {
  const us = (w: WrkResult) => (w.serverCpuSeconds ?? 0) * 1e6 / w.requests;
  return {
    workload,
    metric: "server CPU us per request",
    better: "lower",
    arca: stats(a.map(us)),
    base: stats(n.map(us)),
    baseline: "nginx",
  };
}

/** W3: downloads cycling over every NAR of the closure; wire MB/s and server CPU per GB. */
export async function benchNars(
  servers: [Server, Server],
  lists: [string, string],
  concurrencies: number[],
  spec: Omit<LoadSpec, "connections">,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of concurrencies) {
    const cpu0 = servers.map((s) => treeCpuSeconds(s.pid));
    const [a, n] = await load(servers, lists, { ...spec, connections: c }, false);
    const cpu = servers.map((s, k) => treeCpuSeconds(s.pid) - cpu0[k]);
    const gb = (rs: WrkResult[]) => rs.reduce((x, w) => x + w.bytes, 0) / 1e9;
    rows.push({
      workload: `W3 all NARs c=${c}`,
      metric: "MB/s (wire)",
      better: "higher",
      arca: stats(a.map((w) => w.bytes / 1e6 / w.seconds)),
      base: stats(n.map((w) => w.bytes / 1e6 / w.seconds)),
      baseline: "nginx",
      target: 0.9,
    }, {
      workload: `W3 all NARs c=${c}`,
      metric: "server CPU s per GB (all runs)",
      better: "lower",
      arca: stats([cpu[0] / gb(a)]),
      base: stats([cpu[1] / gb(n)]),
      baseline: "nginx",
      target: 1.2,
    });
  }
  return rows;
}

/**
 * W8: spawn to the first 200 on the starters' probe path (a narinfo), and RSS
 * of the process tree after 1 s idle; `label` says what cache they serve.
 */
export async function benchStartup(
  starters: [() => Promise<Server>, () => Promise<Server>],
  runs: number,
  label: string,
): Promise<Row[]> {
  const ms: [number[], number[]] = [[], []];
  const rss: [number[], number[]] = [[], []];
  for (let r = 0; r < runs; r++) {
    for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const s = await starters[k]();
      try {
        ms[k].push(s.startupMs);
        await sleep(1000);
        rss[k].push(treeRssMiB(s.pid));
      } finally {
        await s.stop();
      }
    }
  }
  return [
    {
      workload: `W8 cold start, ${label}`,
      metric: "ms to first narinfo 200",
      better: "lower",
      arca: stats(ms[0]),
      base: stats(ms[1]),
      baseline: "nginx",
      absoluteMax: 50,
    },
    {
      workload: `W8 idle, ${label}`,
      metric: "RSS MiB (process tree)",
      better: "lower",
      arca: stats(rss[0]),
      base: stats(rss[1]),
      baseline: "nginx (master+worker)",
      absoluteMax: 150,
    },
  ];
}

function rps(w: WrkResult): number {
  return w.requests / w.seconds;
}
