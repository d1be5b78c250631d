/**
 * NARs from peers across real hosts (network namespaces; skipped when not
 * root): a real Nix substitutes a closure held only by A through C's
 * `swarm --also-serve`; A dies mid-transfer and B finishes it; a peer that
 * serves bad chunks (or a wrong chunk list) is caught and replaced, and with
 * no honest peer the download never completes; a second version of a path
 * costs only its new chunks; a peer of another segment gets no chunks.
 *
 * ```
 *   h0 A (holds everything)   h1 B (holds "big" and "q")   h2 C (Nix client, empty)
 *   h3 M: a bad member linked to C        h4 P: an outsider of "team", linked to A on universal
 * ```
 */
import assert from "node:assert/strict";
import { decodeBase64, encodeHex } from "../lib/encoding/mod.ts";
import { parseHash } from "../lib/hash/mod.ts";
import { generateKeyPair, keyPairFromPrivate } from "../lib/swarm/noise/mod.ts";
import { compareBytes, encodeEntry, type Entry, entryKey } from "../lib/swarm/proto/entry.ts";
import { UNIVERSAL_TOPIC_KEY } from "../lib/config/segments.ts";
import { fingerprint } from "../lib/narinfo/mod.ts";
import { parseSecretKey, type SecretKey, signMessage } from "../lib/sign/mod.ts";
import { encodeBase64 } from "../lib/encoding/mod.ts";
import { makeNet, type Net, netnsUnavailable, runIn, spawnIn } from "./_netns.ts";
import { arca, buildPath, deleteStorePaths, nixEnv, runOk, tempDir } from "./_run.ts";
import { makeKey, substitute } from "./_cache_fixture.ts";
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
} from "./_swarm_nodes.ts";

const why = await netnsUnavailable();
if (why) console.error(`swarm_fetch_netns_test: skipped: ${why}`);

interface PathInfo {
  path: string;
  narHash: string;
  narSize: number;
  references: string[];
}

async function pathInfo(p: string, env: Record<string, string>): Promise<PathInfo> {
  const [i] = JSON.parse(await runOk("nix", ["path-info", "--json", p], { env }));
  return {
    path: i.path,
    narHash: i.narHash,
    narSize: i.narSize,
    references: i.references.map((r: string) => r.slice(r.lastIndexOf("/") + 1)).sort(),
  };
}

/** The entry a member would replicate for a real path, signed with `key`, held by `holder`. */
function entryOf(i: PathInfo, key: SecretKey, holder: Uint8Array): Entry {
  const narHash = parseHash(i.narHash).digest;
  const fp = fingerprint({
    storePath: i.path,
    narHash: { algo: "sha256", digest: narHash },
    narSize: i.narSize,
    references: i.references,
  });
  return {
    storePath: i.path,
    narHash,
    narSize: i.narSize,
    references: i.references,
    sigs: [signMessage(key, fp)],
    holders: [{ node: holder, clock: Date.now(), live: true }],
  };
}

/** The hex sha256 a NarHash stands for (what `sha256sum` prints of the NAR). */
function hexOf(narHash: string): string {
  return encodeHex(parseHash(narHash).digest);
}

Deno.test({
  name: "NARs from peers: Nix through C, a peer dying, bad chunks, versions, segments",
  ignore: why !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tmp = await tempDir("arca-fetch-ns-");
    let net: Net | undefined;
    const nodes: SwarmNode[] = [];
    const peers: Deno.ChildProcess[] = [];
    const env = await nixEnv();
    try {
      net = await makeNet(5);
      const h = net.hosts;
      const keys = `${tmp.path}/keys`;
      await Deno.mkdir(keys);
      const team = await makeKey(keys, "team-1", env);
      const nixpkgs = await makeKey(keys, "nixpkgs-test-1", env);
      const teamSecret = parseSecretKey(await Deno.readTextFile(team.secret));
      const teamKey = (await arca(["keygen"])).stdout.trim();
      const statics = [[], [`${h[0].ip}:7071`], [`${h[0].ip}:7071`, `${h[1].ip}:7071`]];
      for (const [i, name] of ["a", "b", "c"].entries()) {
        nodes.push(
          await makeNode(h[i], `${tmp.path}/${name}`, [
            `signing_key_path = "${team.secret}"`,
            `nixpkgs_keys = ["${nixpkgs.pub}"]`,
            `static_peers = [${statics[i].map((s) => `"${s}"`).join(", ")}]`,
            ...segmentLines("universal", UNIVERSAL_TOPIC_KEY, "nixpkgs", [nixpkgs.pub]),
            ...segmentLines("team", teamKey, "custom", [team.pub]),
          ], env),
        );
      }
      const [A, B, C] = nodes;

      // The paths, built with the real Nix.
      const lib = await buildPath(
        "fetch-lib",
        "mkdir -p $out/lib; head -c 3000000 /dev/urandom > $out/lib/libx.so; echo $out > $out/self",
        env,
      );
      const app = await buildPath(
        "fetch-app",
        'mkdir -p $out/bin; echo "#!/bin/sh\necho $lib" > $out/bin/app; chmod +x $out/bin/app',
        env,
        { deps: { lib } },
      );
      const big = await buildPath("fetch-big", "head -c 209715200 /dev/urandom > $out", env);
      const v1 = await buildPath("fetch-v1", "head -c 40000000 /dev/urandom > $out", env);
      // Version two: the same bytes but one MB in the middle.
      const v2 = await buildPath(
        "fetch-v2",
        "cp $v1 $out; chmod u+w $out; head -c 1000000 /dev/urandom | dd of=$out bs=1000000 seek=20 conv=notrunc 2>/dev/null",
        env,
        { deps: { v1 } },
      );
      const q = await buildPath("fetch-q", "head -c 20000000 /dev/urandom > $out", env);
      const twin = await buildPath("fetch-twin", "head -c 30000000 /dev/urandom > $out", env);
      const r = await buildPath("fetch-r", "head -c 8000000 /dev/urandom > $out", env);
      const s = await buildPath("fetch-s", "head -c 8000000 /dev/urandom > $out", env);
      const sLie = await buildPath("fetch-s-lie", "head -c 8000000 /dev/urandom > $out", env);
      const info = new Map<string, PathInfo>();
      for (const p of [lib, app, big, v1, v2, q, r, s, twin]) {
        info.set(p, await pathInfo(p, env));
      }
      const dumps: Record<string, string> = {};
      for (const [name, p] of Object.entries({ q, r, s, sLie })) {
        dumps[name] = `${tmp.path}/${name}.nar`;
        await runOk("sh", ["-c", `nix-store --dump ${p} > ${dumps[name]}`], { env });
      }

      await arcaOn(A, ["import-closure", app]);
      await arcaOn(A, ["import", big, v1, v2, twin]);
      await arcaOn(B, ["import", big, q]);
      // The client's closure must come over the network: it leaves the local store.
      await deleteStorePaths([app, lib], env);

      for (const n of nodes) startNode(n);
      await until("C knows every path", async () => {
        for (const p of [lib, app, big, v1, v2, q, twin]) {
          if (await narinfoStatus(C, hashOf(p)) !== "200") return false;
        }
        return true;
      }, nodes);

      // 1. A real Nix on h2 substitutes A's closure through C, signatures required.
      const sub = await runIn(C.host, "nix-store", [
        "-r",
        app,
        "--option",
        "substituters",
        "http://127.0.0.1:5555",
        "--option",
        "trusted-public-keys",
        team.pub,
        "--option",
        "require-sigs",
        "true",
      ], { env });
      assert.equal(sub.code, 0, `${sub.stderr}\n${C.out}`);
      for (const p of [lib, app]) {
        const dumped = await runOk("sh", ["-c", `nix-store --dump ${p} | sha256sum`], { env });
        assert.equal(dumped.split(" ")[0], hexOf(info.get(p)!.narHash), `${p} byte-exact`);
      }
      void substitute;

      // 2. A and B hold "big"; A dies mid-transfer; the download completes from B.
      const url = async (p: string) => {
        const ni = await runIn(C.host, "curl", [
          "-s",
          `http://127.0.0.1:5555/${hashOf(p)}.narinfo`,
        ]);
        return /^URL: (.*)$/m.exec(ni.stdout)![1];
      };
      const bigUrl = await url(big);
      const curl = (u: string, out: string, rate?: string) =>
        runIn(C.host, "curl", [
          "-s",
          "-o",
          out,
          "-w",
          "%{http_code} %{size_download}",
          ...(rate ? ["--limit-rate", rate] : []),
          `http://127.0.0.1:5555/${u}`,
        ]);
      const got = curl(bigUrl, `${tmp.path}/big.nar`, "40M");
      await new Promise((r) => setTimeout(r, 1500));
      await stopNode(A, "SIGKILL");
      const bigRes = await got;
      const seen = `curl: ${bigRes.code} ${bigRes.stdout}\nC:\n${C.out.slice(-4000)}`;
      assert.equal(bigRes.code, 0, seen);
      assert.equal(bigRes.stdout, `200 ${info.get(big)!.narSize}`, seen);
      const bigSum = await runOk("sha256sum", [`${tmp.path}/big.nar`]);
      assert.equal(bigSum.split(" ")[0], hexOf(info.get(big)!.narHash), "big, byte-exact");
      assert.match(C.out, /link with [0-9a-f]{16} closed/);
      startNode(A);

      // 2b. Two clients ask for the same NAR at once: one transfer, fetched once.
      const fetchedSoFar = async () =>
        JSON.parse(await arcaOn(C, ["status", "--json"])).swarm.fetch.fetchedBytes as number;
      await new Promise((r) => setTimeout(r, 5_500)); // the status record is rewritten every 5 s
      const before = await fetchedSoFar();
      const twinUrl = await url(twin);
      const both = await Promise.all([
        curl(twinUrl, `${tmp.path}/twin1.out`, "20M"),
        curl(twinUrl, `${tmp.path}/twin2.out`),
      ]);
      for (const [k, res] of both.entries()) {
        assert.equal(res.stdout, `200 ${info.get(twin)!.narSize}`);
        const sum = await runOk("sha256sum", [`${tmp.path}/twin${k + 1}.out`]);
        assert.equal(sum.split(" ")[0], hexOf(info.get(twin)!.narHash), `client ${k + 1}`);
      }
      await new Promise((r) => setTimeout(r, 5_500));
      const once = (await fetchedSoFar()) - before;
      assert.ok(
        once < 1.2 * info.get(twin)!.narSize,
        `fetched ${once} bytes for two downloads of ${info.get(twin)!.narSize}`,
      );

      // 3. A bad member M, linked to C, says it holds q (B does too), r and s (nobody else).
      const cKey = keyPairFromPrivate(decodeBase64(
        (await Deno.readTextFile(`${C.dir}/cache/swarm.key`)).trim().split(":")[1],
      )).publicKey;
      let m = generateKeyPair();
      while (compareBytes(m.publicKey, cKey) <= 0) m = generateKeyPair();
      const held = [q, r, s].map((p) => entryOf(info.get(p)!, teamSecret, m.publicKey));
      const plan = `${tmp.path}/m.json`;
      await Deno.writeTextFile(
        plan,
        JSON.stringify({
          connect: `${h[2].ip}:7071`,
          topicKey: teamKey,
          privateKey: encodeHex(m.privateKey),
          seconds: 120,
          states: held.map((e) => encodeBase64(encodeEntry(e))),
          nars: [
            {
              key: entryKey(held[0]),
              file: dumps.q,
              corrupt: Array.from({ length: 400 }, (_, i) => i),
            },
            // Late chunks: asked for only once the response has started.
            { key: entryKey(held[1]), file: dumps.r, corrupt: [60, 61, 62, 63] },
            { key: entryKey(held[2]), file: dumps.s, lie: dumps.sLie },
          ],
        }),
      );
      const mp = spawnIn(h[3], Deno.execPath(), [
        "run",
        "-A",
        "--quiet",
        new URL("./_swarm_peer.ts", import.meta.url).pathname,
        plan,
      ]);
      peers.push(mp);
      await until("C knows r and s", async () =>
        (await narinfoStatus(C, hashOf(r))) === "200" &&
        (await narinfoStatus(C, hashOf(s))) === "200", nodes);
      // q: M's chunks are all bad; it is caught at its first one and B delivers.
      const qRes = await curl(await url(q), `${tmp.path}/q.out`);
      assert.equal(qRes.stdout, `200 ${info.get(q)!.narSize}`);
      const qSum = await runOk("sha256sum", [`${tmp.path}/q.out`]);
      assert.equal(qSum.split(" ")[0], hexOf(info.get(q)!.narHash), "q, byte-exact");
      assert.match(C.out, /sent a bad chunk \d+ of .*fetch-q \(strike 1 of 3\)/);
      // r: only M has it, bad at chunk 60: the 200 is cut short (curl exit 18).
      const rRes = await curl(await url(r), `${tmp.path}/r.out`);
      assert.equal(rRes.code, 18, `r's download must be cut: ${rRes.stdout} ${rRes.stderr}`);
      assert.match(rRes.stdout, /^200 /);
      const rGot = Number(rRes.stdout.split(" ")[1]);
      assert.ok(rGot < info.get(r)!.narSize, `r: ${rGot} of ${info.get(r)!.narSize} bytes`);
      // s: every chunk is good, but they make another NAR: the last bytes never go out.
      const sRes = await curl(await url(s), `${tmp.path}/s.out`);
      assert.equal(sRes.code, 18, `s's download must be cut: ${sRes.stdout}`);
      assert.ok(Number(sRes.stdout.split(" ")[1]) < info.get(s)!.narSize);
      assert.match(C.out, /not the signed .*a peer gave a wrong chunk list/);

      // 4. C holds v1 (fetched once); v2 costs only its new chunks. Only A has them: wait for
      // C to be linked with A again.
      const aKey = encodeHex(
        keyPairFromPrivate(decodeBase64(
          (await Deno.readTextFile(`${A.dir}/cache/swarm.key`)).trim().split(":")[1],
        )).publicKey,
      );
      await until("C linked with A again", async () => {
        const st = JSON.parse(await arcaOn(C, ["status", "--json"]));
        return st.swarm?.peers.some((p: { key: string }) => p.key === aKey) ?? false;
      }, nodes);
      const v1Res = await curl(await url(v1), `${tmp.path}/v1.out`);
      assert.equal(v1Res.stdout, `200 ${info.get(v1)!.narSize}`);
      await until("v1 published on C", async () => {
        const ni = await runIn(C.host, "curl", [
          "-s",
          `http://127.0.0.1:5555/${hashOf(v1)}.narinfo`,
        ]);
        return /^URL: nar\//m.test(ni.stdout);
      }, nodes);
      const v2Res = await curl(await url(v2), `${tmp.path}/v2.out`);
      assert.equal(v2Res.stdout, `200 ${info.get(v2)!.narSize}`);
      const v2Sum = await runOk("sha256sum", [`${tmp.path}/v2.out`]);
      assert.equal(v2Sum.split(" ")[0], hexOf(info.get(v2)!.narHash));
      // `audit --json` prints one event per line.
      const auditOf = async (n: SwarmNode) =>
        (await arcaOn(n, ["audit", "--json"])).trim().split("\n").map((l) =>
          JSON.parse(l)
        ) as Record<
          string,
          unknown
        >[];
      await until(
        "v2's SyncFetch event",
        async () => (await auditOf(C)).some((e) => e.type === "SyncFetch" && e.path === v2),
        nodes,
      );
      const audit = await auditOf(C);
      const v2Event = audit.find((e) => e.type === "SyncFetch" && e.path === v2)!;
      const fraction = (v2Event.bytesFromPeers as number) / info.get(v2)!.narSize;
      assert.ok(fraction < 0.15, `v2 fetched ${(fraction * 100).toFixed(1)}% of its NAR`);
      assert.ok((v2Event.chunksHere as number) > 0);

      // 5. P, in universal only, asks A for the team path's manifest and a chunk: refused.
      const probe = `${tmp.path}/p.json`;
      const appKey = entryKey(entryOf(info.get(app)!, teamSecret, m.publicKey));
      await Deno.writeTextFile(
        probe,
        JSON.stringify({
          connect: `${h[0].ip}:7071`,
          topicKey: UNIVERSAL_TOPIC_KEY,
          privateKey: encodeHex(generateKeyPair().privateKey),
          seconds: 8,
          probe: [
            { t: "nar_req", req: 1, seg: 0, key: appKey, from: 0 },
            { t: "chunk_req", req: 2, seg: 0, key: appKey, index: 0, id: new Array(32).fill(0) },
          ],
        }, (_, v) => v),
      );
      const pOut = await runIn(h[4], Deno.execPath(), [
        "run",
        "-A",
        "--quiet",
        new URL("./_swarm_peer.ts", import.meta.url).pathname,
        probe,
      ]);
      assert.match(
        pOut.stdout,
        /answer \{"t":"nar_err","req":1,"error":"not found"\}/,
        pOut.stderr,
      );
      assert.match(pOut.stdout, /answer \{"t":"nar_err","req":2,"error":"not found"\}/);

      // Status: C fetched, B served.
      const cs = JSON.parse(await arcaOn(C, ["status", "--json"]));
      assert.ok(cs.swarm.fetch.fetchedBytes > 200 * 2 ** 20, JSON.stringify(cs.swarm.fetch));
      const bs = JSON.parse(await arcaOn(B, ["status", "--json"]));
      assert.ok(bs.swarm.peers.some((p: { servedBytes: number }) => p.servedBytes > 0));
      assert.ok(audit.some((e) => e.type === "SyncFetch" && e.path === app));
    } finally {
      for (const p of peers) {
        try {
          p.kill("SIGKILL");
        } catch { /* gone */ }
        await p.status.catch(() => {});
      }
      await stopAll(nodes);
      await net?.cleanup();
      await tmp.cleanup();
    }
  },
});
