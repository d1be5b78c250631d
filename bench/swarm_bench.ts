/**
 * Swarm replication, measured with real `arca swarm` processes on loopback
 * and a counting TCP relay between them (so "bytes on the wire" are the
 * bytes the peer link really carried: Noise frames, hellos, pings, all):
 *
 * - S1: a node holding N narinfos, an empty peer joins: seconds until the
 *   peer serves all N, bytes on the wire against the narinfos' own size;
 * - S2: 10 new paths imported next to N: bytes on the wire (target < 16 KiB);
 * - S3: idle traffic per peer per minute;
 * - S4: RSS of the node holding N replicated records (target < 150 MiB).
 *
 *   deno run -A bench/swarm_bench.ts [--quick] [--out FILE]
 *
 * N = 100,000 (20,000 with --quick). Writes bench/SWARM_RESULTS.md.
 */
import { arcaArgs, buildPath, nixEnv, runOk } from "../tests/_run.ts";
import { arcaEnv, makeKey } from "../tests/_cache_fixture.ts";
import { freePort, memoryKiB, sleep, writeWorkloadReport } from "./_lib.ts";
import { MetaStore } from "../lib/kv/meta_store.ts";
import { SwarmStore } from "../lib/kv/swarm_store.ts";
import { encodeEntry, type Entry, entryKey } from "../lib/swarm/proto/entry.ts";
import { formatNarinfo } from "../lib/narinfo/mod.ts";
import { remoteNarinfo } from "../lib/swarm/remote_view.ts";
import { fingerprint } from "../lib/narinfo/mod.ts";
import { parseSecretKey, type SecretKey, signMessage } from "../lib/sign/mod.ts";
import { hashPartOf } from "../tests/_swarm_fixtures.ts";

const quick = Deno.args.includes("--quick");
const N = quick ? 20_000 : 100_000;
const IDLE_SECONDS = quick ? 30 : 60;
const outAt = Deno.args.indexOf("--out");
const OUT = outAt >= 0 ? Deno.args[outAt + 1] : new URL("./SWARM_RESULTS.md", import.meta.url)
  .pathname;

const NAMES = ["glibc-2.39-52", "openssl-3.3.2", "python3-3.12.7", "hello-2.12.1", "zlib-1.3.1"];

/** A narinfo-shaped entry as nixpkgs paths look: a name, 0-8 references, one signature. */
function entry(n: number, key: SecretKey, holder: Uint8Array): Entry {
  const storePath = `/nix/store/${hashPartOf(n)}-${NAMES[n % NAMES.length]}`;
  const narHash = new Uint8Array(32);
  new DataView(narHash.buffer).setUint32(0, n);
  narHash[30] = 0xbe;
  const references = Array.from(
    { length: n % 9 },
    (_, i) => `${hashPartOf(n * 31 + i + 7)}-${NAMES[(n + i) % NAMES.length]}`,
  ).sort();
  const narSize = 4096 + (n % 100_000) * 37;
  const fp = fingerprint({
    storePath,
    narHash: { algo: "sha256", digest: narHash },
    narSize,
    references,
  });
  return {
    storePath,
    narHash,
    narSize,
    references,
    deriver: `${hashPartOf(n + 77_000_000)}-${NAMES[n % NAMES.length]}.drv`,
    sigs: [signMessage(key, fp)],
    holders: [{ node: holder, clock: Date.now(), live: true }],
  };
}

/** A TCP relay that counts the bytes each way. */
function relay(listenPort: number, targetPort: number) {
  const count = { up: 0, down: 0 };
  const listener = Deno.listen({ hostname: "127.0.0.1", port: listenPort });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const c of listener) {
      const t = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      conns.push(c, t);
      const pump = async (from: Deno.Conn, to: Deno.Conn, dir: "up" | "down") => {
        const buf = new Uint8Array(64 * 1024);
        try {
          for (;;) {
            const n = await from.read(buf);
            if (n === null) break;
            count[dir] += n;
            let o = 0;
            while (o < n) o += await to.write(buf.subarray(o, n));
          }
        } catch { /* closed */ }
        try {
          to.close();
        } catch { /* closed */ }
      };
      void pump(c, t, "up");
      void pump(t, c, "down");
    }
  })().catch(() => {});
  return {
    count,
    total: () => count.up + count.down,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

function spawn(args: string[], env: Record<string, string>, log: { text: string }) {
  const child = new Deno.Command(Deno.execPath(), {
    args: arcaArgs(args),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const dec = new TextDecoder();
  for (const s of [child.stdout, child.stderr]) {
    void (async () => {
      for await (const c of s) log.text = (log.text + dec.decode(c)).slice(-20_000);
    })().catch(() => {});
  }
  return child;
}

async function healthPaths(port: number): Promise<number> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health`);
    return (await r.json()).paths;
  } catch {
    return -1;
  }
}

async function until(what: string, f: () => Promise<boolean>, seconds: number, log: () => string) {
  const end = Date.now() + seconds * 1000;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${log()}`);
    await sleep(100);
  }
}

const tmp = await Deno.makeTempDir({ prefix: "arca-swarm-bench-" });
const children: Deno.ChildProcess[] = [];
const rows: string[][] = [];
try {
  const env = await nixEnv();
  const keys = `${tmp}/keys`;
  await Deno.mkdir(keys);
  const team = await makeKey(keys, "team-1", env);
  const secret = parseSecretKey(await Deno.readTextFile(team.secret));
  const topic = (await runOk(Deno.execPath(), arcaArgs(["keygen"]))).trim();
  const [pa, pb, pc, pRelay, pRelayC, ha, hb, hc] = Array.from({ length: 8 }, () => freePort());
  const cfg = (n: string, http: number) =>
    [
      `cache_dir = "${tmp}/${n}/cache"`,
      `signing_key_path = "${team.secret}"`,
      `bind = "127.0.0.1:${http}"`,
      "[[segments]]",
      `name = "team"`,
      `topic_key = "${topic}"`,
      `trusted_public_keys = ["${team.pub}"]`,
      "",
    ].join("\n");
  for (const [n, http] of [["a", ha], ["b", hb], ["c", hc]] as const) {
    await Deno.mkdir(`${tmp}/${n}/cache`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/${n}/config.toml`, cfg(n, http));
  }
  const envA = { ...arcaEnv(env, `${tmp}/a`, `${tmp}/a/cache`), ARCA_LOG_LEVEL: "info" };
  const envB = arcaEnv(env, `${tmp}/b`, `${tmp}/b/cache`);
  const envC = arcaEnv(env, `${tmp}/c`, `${tmp}/c/cache`);

  // A holds N narinfos it got from some third node (their holder).
  console.error(`swarm bench: signing ${N} narinfos`);
  const origin = new Uint8Array(32).fill(0x42);
  const meta = await MetaStore.open(`${tmp}/a/cache/db`);
  const store = new SwarmStore(meta);
  let narinfoBytes = 0;
  let batch: { key: string; bytes: Uint8Array }[] = [];
  for (let i = 0; i < N; i++) {
    const e = entry(i, secret, origin);
    narinfoBytes += formatNarinfo(remoteNarinfo(e)).length;
    batch.push({ key: entryKey(e), bytes: encodeEntry(e) });
    if (batch.length === 1000) {
      await store.put("team", batch, []);
      batch = [];
    }
  }
  await store.put("team", batch, []);
  meta.close();

  const logA = { text: "" }, logB = { text: "" };
  const a = spawn(
    [
      "--config",
      `${tmp}/a/config.toml`,
      "swarm",
      "--no-multicast",
      "--sync-port",
      `${pa}`,
      "--also-serve",
    ],
    envA,
    logA,
  );
  children.push(a);
  await until("A serving", async () => (await healthPaths(ha)) === N, 120, () => logA.text);
  const link = relay(pRelay, pa);

  // S1: an empty peer joins (B serves the cache too, so "all there" is its /health count).
  const joinPeer = (
    name: string,
    sync: number,
    relayPort: number,
    serve: boolean,
    log: { text: string },
  ) =>
    spawn(
      [
        "--config",
        `${tmp}/${name}/config.toml`,
        "swarm",
        "--no-multicast",
        "--sync-port",
        `${sync}`,
        "--static-peer",
        `127.0.0.1:${relayPort}`,
        ...(serve ? ["--also-serve"] : []),
      ],
      name === "b" ? envB : envC,
      log,
    );
  const t0 = performance.now();
  const b = joinPeer("b", pb, pRelay, true, logB);
  children.push(b);
  await until(
    "B to serve every narinfo",
    async () => (await healthPaths(hb)) === N,
    600,
    () => logB.text,
  );
  const s1 = (performance.now() - t0) / 1000;
  const s1Bytes = link.total();
  await sleep(2000);
  const rssB = memoryKiB(b.pid)!;
  const rssA = memoryKiB(a.pid)!;
  rows.push([
    `S1 ${N.toLocaleString("en")} narinfos to an empty peer`,
    `${s1.toFixed(1)} s`,
    `${(s1Bytes / 2 ** 20).toFixed(1)} MiB on the wire, narinfos ${
      (narinfoBytes / 2 ** 20).toFixed(1)
    } MiB: ${(s1Bytes / narinfoBytes).toFixed(2)}x`,
    "",
  ]);

  // S4: a third node that only holds the records (no substituter), for its RSS.
  const relayC = relay(pRelayC, pa);
  const logC = { text: "" };
  const c = joinPeer("c", pc, pRelayC, false, logC);
  children.push(c);
  await until(
    "C to hold every record",
    async () => {
      const got = relayC.count.down;
      await sleep(1500);
      return got > 0.5 * narinfoBytes && relayC.count.down === got;
    },
    600,
    () => logC.text,
  );
  await sleep(2000);
  const rssC = memoryKiB(c.pid)!;
  const st = JSON.parse(
    await runOk(
      Deno.execPath(),
      arcaArgs(["--config", `${tmp}/c/config.toml`, "status", "--json"]),
      {
        env: envC,
      },
    ),
  );
  const held = st.segments.find((x: { name: string }) => x.name === "team").peerPaths;
  if (held !== N) throw new Error(`C holds ${held} records, not ${N}`);
  relayC.close();

  // S3: idle.
  const idle0 = link.total();
  await sleep(IDLE_SECONDS * 1000);
  const idlePerMin = (link.total() - idle0) * 60 / IDLE_SECONDS;
  rows.push([
    "S3 idle traffic, one peer",
    `${(idlePerMin / 1024).toFixed(2)} KiB/min`,
    `measured over ${IDLE_SECONDS} s`,
    "",
  ]);

  // S2: 10 new paths imported on A (real Nix paths, real import).
  const paths: string[] = [];
  for (let i = 0; i < 10; i++) {
    paths.push(await buildPath(`swarm-bench-${i}`, `echo ${i} ${crypto.randomUUID()} > $out`, env));
  }
  const d0 = link.total();
  const t2 = performance.now();
  await runOk(Deno.execPath(), arcaArgs(["--config", `${tmp}/a/config.toml`, "import", ...paths]), {
    env: envA,
  });
  await until(
    "B to serve the 10 new paths",
    async () => (await healthPaths(hb)) === N + 10,
    60,
    () => logB.text,
  );
  const s2Seconds = (performance.now() - t2) / 1000;
  await sleep(1500); // let the round finish its last message
  const deltaBytes = link.total() - d0 - idlePerMin * ((performance.now() - t2) / 60_000);
  rows.push([
    `S2 10 new paths next to ${N.toLocaleString("en")}`,
    `${(deltaBytes / 1024).toFixed(1)} KiB`,
    `target < 16 KiB; seen on the peer ${s2Seconds.toFixed(1)} s after the import began`,
    deltaBytes < 16 * 1024 ? "met" : "missed",
  ]);
  const mib = (k: { rss: number; hwm: number }) =>
    `${(k.rss / 1024).toFixed(0)} MiB (peak ${(k.hwm / 1024).toFixed(0)})`;
  rows.push([
    `S4 RSS of a node holding ${N.toLocaleString("en")} replicated records`,
    mib(rssC),
    "`arca swarm`: records in its replica (KV) and reconciliation state; target < 150 MiB",
    rssC.hwm / 1024 < 150 ? "met" : "missed",
  ]);
  rows.push([
    "S4b the same, serving them as narinfos (`--also-serve`)",
    mib(rssB),
    `every narinfo in memory for the substituter; the node they came from: ${mib(rssA)}`,
    "",
  ]);
  link.close();

  const md = await writeWorkloadReport(
    OUT,
    "Swarm benchmark",
    `deno run -A bench/swarm_bench.ts${quick ? " --quick" : ""}`,
    ["Two `arca swarm --also-serve` processes on loopback, a counting TCP relay between them."],
    rows,
  );
  console.log(md);
} finally {
  for (const c of children) {
    try {
      c.kill("SIGTERM");
    } catch { /* gone */ }
    await c.status.catch(() => {});
  }
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
