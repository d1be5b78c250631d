/**
 * NARs from peers, measured across network namespaces (real veths, real
 * `arca swarm --also-serve` processes, curl as the client on C's host):
 *
 * - P1: one big NAR fetched by C from one peer (A) through C's substituter,
 *   as a ratio to a plain HTTP download of the same NAR file from A's own
 *   substituter over the same veth (target >= 0.8x);
 * - P2: the same from two peers at once (A and B; target: faster than one);
 * - P3: bytes moved for a version with 10% of its bytes changed, C holding the
 *   first version (target < 15% of the NAR file);
 * - first-byte latency of each; peak RSS of A and C during the transfers
 *   (target < 150 MiB each).
 *
 *   deno run -A bench/peer_fetch_bench.ts [--quick] [--size MIB] [--profile SECS] [--out FILE]
 *
 * 1 GiB (256 MiB with --quick, or --size) of random data (incompressible:
 * the NAR file is the NAR's size, so both sides move the same bytes). Needs
 * root. Writes bench/PEER_FETCH_RESULTS.md. `--profile SECS` runs only the
 * baseline and P1, with A and C under a CPU profiler for their first SECS
 * seconds of P1 (printed, and saved next to the report), and writes no report.
 */
import { makeNet, type Net, netnsUnavailable, runIn } from "../tests/_netns.ts";
import { arca, buildPath, nixEnv, tempDir } from "../tests/_run.ts";
import { makeKey } from "../tests/_cache_fixture.ts";
import {
  arcaOn,
  hashOf,
  makeNode,
  narinfoStatus,
  segmentLines,
  startNode,
  stopAll,
  stopNode,
  type SwarmNode,
  until,
} from "../tests/_swarm_nodes.ts";
import { memoryKiB, writeWorkloadReport } from "./_lib.ts";

const quick = Deno.args.includes("--quick");
const argOf = (flag: string) => {
  const at = Deno.args.indexOf(flag);
  return at >= 0 ? Number(Deno.args[at + 1]) : undefined;
};
const sizeMiB = argOf("--size");
const profileSecs = argOf("--profile");
const BIG = sizeMiB ? sizeMiB * 2 ** 20 : quick ? 256 * 2 ** 20 : 2 ** 30;
const VERSION_BYTES = quick || sizeMiB ? 64 * 2 ** 20 : 256 * 2 ** 20;
const outAt = Deno.args.indexOf("--out");
const OUT = outAt >= 0
  ? Deno.args[outAt + 1]
  : new URL("./PEER_FETCH_RESULTS.md", import.meta.url).pathname;

const mbs = (bytes: number, s: number) => `${(bytes / s / 2 ** 20).toFixed(0)} MiB/s`;
/** With --profile: A and C take a profiler on their namespace's loopback. */
const inspect = profileSecs ? ["--inspect=127.0.0.1:9229"] : [];

const why = await netnsUnavailable();
if (why) {
  console.error(`peer fetch bench: cannot run: ${why}`);
  Deno.exit(1);
}

/** curl on `host`: seconds, first byte, bytes and the HTTP code. */
async function download(n: SwarmNode, url: string) {
  const r = await runIn(n.host, "curl", [
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code} %{size_download} %{time_starttransfer} %{time_total}",
    url,
  ]);
  const [code, size, first, total] = r.stdout.trim().split(" ");
  return { code, size: Number(size), first: Number(first), total: Number(total) };
}

/** The machine's CPU ticks by kind (/proc/stat's first line). */
function machineTicks(): number[] {
  return Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1).map(
    Number,
  );
}

/** CPU time (ticks) of each thread of `pid`: tid -> [user, sys, name]. */
function threadTimes(pid: number): Map<string, [number, number, string]> {
  const out = new Map<string, [number, number, string]>();
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const st = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/stat`);
      const comm = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      out.set(t.name, [Number(f[11]), Number(f[12]), `${comm}/${t.name}`]);
    } catch { /* gone */ }
  }
  return out;
}

/** Samples the RSS of each node's process every 50 ms while `f` runs; returns the peaks (MiB). */
async function peakRss<T>(nodes: SwarmNode[], f: () => Promise<T>): Promise<[T, number[]]> {
  const peaks = nodes.map(() => 0);
  const t = setInterval(() => {
    nodes.forEach((n, i) => {
      const m = n.child && memoryKiB(n.child.pid);
      if (m) peaks[i] = Math.max(peaks[i], m.rss / 1024);
    });
  }, 50);
  try {
    return [await f(), peaks];
  } finally {
    clearInterval(t);
  }
}

const tmp = await tempDir("arca-fetch-bench-");
let net: Net | undefined;
const nodes: SwarmNode[] = [];
const rows: string[][] = [];
try {
  const env = await nixEnv();
  net = await makeNet(3);
  const h = net.hosts;
  const keys = `${tmp.path}/keys`;
  await Deno.mkdir(keys);
  const team = await makeKey(keys, "team-1", env);
  const topic = (await arca(["keygen"])).stdout.trim();
  const statics = [[], [`${h[0].ip}:7071`], [`${h[0].ip}:7071`, `${h[1].ip}:7071`]];
  for (const [i, name] of ["a", "b", "c"].entries()) {
    nodes.push(
      await makeNode(h[i], `${tmp.path}/${name}`, [
        `signing_key_path = "${team.secret}"`,
        `static_peers = [${statics[i].map((s) => `"${s}"`).join(", ")}]`,
        // A's substituter is reached over the veth for the plain HTTP baseline.
        `bind = "0.0.0.0:5555"`,
        ...segmentLines("team", topic, "all", [team.pub]),
      ], env),
    );
  }
  const [A, B, C] = nodes;

  console.error(`peer fetch bench: building ${BIG >> 20} MiB and two versions`);
  const big = await buildPath("fetch-bench-big", `head -c ${BIG} /dev/urandom > $out`, env);
  const v1 = await buildPath("fetch-bench-v1", `head -c ${VERSION_BYTES} /dev/urandom > $out`, env);
  // Version two: ten stretches of 1% each rewritten.
  const block = Math.floor(VERSION_BYTES / 100);
  const v2 = await buildPath(
    "fetch-bench-v2",
    `cp $v1 $out; chmod u+w $out; for i in 0 1 2 3 4 5 6 7 8 9; do head -c ${block} /dev/urandom | dd of=$out bs=${block} seek=$((i * 10 + 3)) conv=notrunc 2>/dev/null; done`,
    env,
    { deps: { v1 } },
  );
  console.error("peer fetch bench: importing");
  await arcaOn(A, ["import", big, v1, v2]);
  await arcaOn(B, ["import", big]);

  const narUrl = async (n: SwarmNode, p: string, host = "127.0.0.1") => {
    const r = await runIn(n.host, "curl", ["-s", `http://${host}:5555/${hashOf(p)}.narinfo`]);
    return `http://${host}:5555/${/^URL: (.*)$/m.exec(r.stdout)![1]}`;
  };
  const freshC = async () => {
    await stopNode(C, "SIGTERM");
    await Deno.remove(`${C.dir}/cache`, { recursive: true }).catch(() => {});
    startNode(C, [], inspect);
    await until(
      "C knows the paths",
      async () =>
        (await narinfoStatus(C, hashOf(big))) === "200" &&
        (await narinfoStatus(C, hashOf(v2))) === "200",
      nodes,
      60_000,
    );
  };
  startNode(A, [], inspect);
  await until("A serving", async () => (await narinfoStatus(A, hashOf(big))) === "200", nodes);

  // Baseline: A's own substituter, plain HTTP over the veth (its NAR file, sent with sendfile).
  const plainUrl = await narUrl(C, big, h[0].ip);
  const base = [];
  for (let i = 0; i < 3; i++) base.push(await download(C, plainUrl));
  const baseBest = base.reduce((a, b) => (b.total < a.total ? b : a));

  // P1: one peer.
  await freshC();
  if (profileSecs) {
    const url = await narUrl(C, big);
    const prof = [A, C].map((n, i) =>
      runIn(n.host, Deno.execPath(), [
        "run",
        "-A",
        new URL("./cpu_profile.ts", import.meta.url).pathname,
        "127.0.0.1:9229",
        String(profileSecs),
        "45",
        OUT.replace(/\.md$/, `.${"ac"[i]}.cpuprofile`),
      ])
    );
    await new Promise((r) => setTimeout(r, 300)); // the profilers attach
    const idle = [A, C].map((n) => (memoryKiB(n.child!.pid)?.rss ?? 0) / 1024);
    console.log(`RSS before P1: A ${idle[0].toFixed(0)} MiB, C ${idle[1].toFixed(0)} MiB`);
    const before = [A, C].map((n) => threadTimes(n.child!.pid));
    const cpu0 = machineTicks();
    const [p, rss] = await peakRss([A, C], () => download(C, url));
    const after = [A, C].map((n) => threadTimes(n.child!.pid));
    const cpu1 = machineTicks();
    console.log(
      `machine during P1 (s): ${
        ["user", "nice", "sys", "idle", "iowait", "irq", "softirq", "steal"].map((k, i) =>
          `${k} ${((cpu1[i] - cpu0[i]) / 100).toFixed(2)}`
        ).join(", ")
      }`,
    );
    for (const [i, name] of ["A", "C"].entries()) {
      const lines = [...after[i]].map(([t, [u, s, comm]]) => {
        const [u0, s0] = before[i].get(t) ?? [0, 0];
        return `${comm}: user ${((u - u0) / 100).toFixed(2)} s, sys ${
          ((s - s0) / 100).toFixed(2)
        } s`;
      }).filter((l) => !l.endsWith("user 0.00 s, sys 0.00 s"));
      console.log(`${name} threads during P1: ${lines.join("; ")}`);
    }
    const [pa, pc] = await Promise.all(prof);
    console.log(
      `--- A (serving)\n${pa.stdout}${pa.stderr}\n--- C (fetching)\n${pc.stdout}${pc.stderr}`,
    );
    console.log(
      `baseline ${mbs(baseBest.size, baseBest.total)}; P1 ${p.code} ${p.total.toFixed(2)} s ${
        mbs(p.size, p.total)
      }, first byte ${(p.first * 1000).toFixed(1)} ms; RSS A ${rss[0].toFixed(0)} MiB, C ${
        rss[1].toFixed(0)
      } MiB`,
    );
  } else {
    const [p1, rss1] = await peakRss([A, C], async () => download(C, await narUrl(C, big)));
    if (p1.code !== "200") throw new Error(`P1: ${JSON.stringify(p1)}`);
    // P2: two peers.
    startNode(B);
    await freshC();
    await until("C linked to both", async () => {
      const st = JSON.parse(await arcaOn(C, ["status", "--json"]));
      return (st.swarm?.peers.length ?? 0) >= 2;
    }, nodes);
    const [p2, rss2] = await peakRss([A, C], async () => download(C, await narUrl(C, big)));
    if (p2.code !== "200") throw new Error(`P2: ${JSON.stringify(p2)}`);
    rows.push([
      `plain HTTP from A's substituter (${BIG >> 20} MiB NAR file, best of 3)`,
      `${baseBest.total.toFixed(2)} s`,
      `${mbs(baseBest.size, baseBest.total)}; first byte ${(baseBest.first * 1000).toFixed(1)} ms`,
      "",
    ]);
    /** A row for a peer fetch: time, rate against the baseline, first byte, RSS of A and C. */
    const fetchRow = (
      name: string,
      p: typeof p1,
      rss: number[],
      verdict: [boolean, string],
    ) => [
      name,
      `${p.total.toFixed(2)} s`,
      `${mbs(p.size, p.total)}: ${(baseBest.total / p.total).toFixed(2)}x plain HTTP; first byte ${
        (p.first * 1000).toFixed(1)
      } ms; peak RSS A ${rss[0].toFixed(0)} MiB, C ${rss[1].toFixed(0)} MiB`,
      `${verdict[0] ? "met" : "missed"} (${verdict[1]})`,
    ];
    rows.push(
      fetchRow("P1 peer fetch through C, one peer", p1, rss1, [
        baseBest.total / p1.total >= 0.8,
        ">= 0.8x",
      ]),
    );
    rows.push(
      fetchRow("P2 peer fetch through C, two peers", p2, rss2, [
        p2.total < p1.total,
        "faster than one",
      ]),
    );

    // P3: C holds v1; v2 has 10% of its bytes changed.
    await download(C, await narUrl(C, v1));
    await until("v1 kept on C", async () => {
      const r = await runIn(C.host, "curl", ["-s", `http://127.0.0.1:5555/${hashOf(v1)}.narinfo`]);
      return /^URL: nar\//m.test(r.stdout);
    }, nodes);
    const v2Res = await download(C, await narUrl(C, v2));
    let ev: Record<string, number> | undefined;
    await until("v2's SyncFetch event", async () => {
      const lines = (await arcaOn(C, ["audit", "--json"])).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      ev = lines.find((e) => e.type === "SyncFetch" && e.path === v2);
      return ev !== undefined;
    }, nodes);
    const share = ev!.bytesFromPeers / ev!.fileSize;
    rows.push([
      "P3 a version with 10% of its bytes changed, C holding the first",
      `${(ev!.bytesFromPeers / 2 ** 20).toFixed(1)} MiB moved`,
      `${(share * 100).toFixed(1)}% of its ${(ev!.fileSize / 2 ** 20).toFixed(0)} MiB NAR file; ${
        ev!.chunksHere
      } chunks held, ${ev!.chunksFromPeers} fetched; ${v2Res.total.toFixed(2)} s`,
      share < 0.15 ? "met (< 15%)" : "missed (< 15%)",
    ]);
    const rssTarget = Math.max(...rss1, ...rss2) < 150;
    rows.push([
      "peak RSS of the nodes during P1/P2",
      `${Math.max(...rss1, ...rss2).toFixed(0)} MiB`,
      "sampled every 50 ms from /proc",
      rssTarget ? "met (< 150 MiB)" : "missed (< 150 MiB)",
    ]);

    const md = await writeWorkloadReport(
      OUT,
      "Peer fetch benchmark",
      `deno run -A bench/peer_fetch_bench.ts${quick ? " --quick" : ""}`,
      [
        "Three network namespaces on a bridge (veth pairs); A and B hold the NAR, C fetches it for",
        "curl on its host through its `swarm --also-serve`. Random data: the NAR file is the NAR.",
      ],
      rows,
    );
    console.log(md);
  }
} finally {
  await stopAll(nodes);
  await net?.cleanup();
  await tmp.cleanup();
}
