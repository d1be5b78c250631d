/**
 * The swarm across real hosts: network namespaces on a bridge (made and
 * removed here; skipped with a message when not root), real `arca swarm`
 * processes, multicast discovery, a host without multicast that joins
 * through a static peer, SIGKILL and restart, a node of another topic, a
 * malicious member injecting forged narinfos, segment routing (a custom
 * path never reaches the universal segment), and a real Nix reading a
 * replicated narinfo.
 *
 * ```
 *            bridge
 *   h0 ─ h1 ─ h2 ─ h3(no multicast, static peer h0) ─ h4(other team key) ─ h5(test peer)
 * team:  h0..h3 (one topic key)        h4: "team" with another key
 * universal (test nixpkgs key): h0..h4
 * ```
 */
import assert from "node:assert/strict";
import { decodeBase64, encodeBase64, encodeHex } from "../lib/encoding/mod.ts";
import { generateKeyPair, keyPairFromPrivate } from "../lib/swarm/noise/mod.ts";
import { compareBytes, encodeEntry } from "../lib/swarm/proto/entry.ts";
import { UNIVERSAL_TOPIC_KEY } from "../lib/config/segments.ts";
import { parseSecretKey } from "../lib/sign/mod.ts";
import { makeNet, type Net, netnsUnavailable, runIn, spawnIn } from "./_netns.ts";
import { arca, buildPath, nixEnv, runOk, tempDir } from "./_run.ts";
import { makeKey } from "./_cache_fixture.ts";
import { hashPartOf, signedEntry, testKey } from "./_swarm_fixtures.ts";
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
if (why) console.error(`swarm_netns_test: skipped: ${why}`);

Deno.test({
  name: "swarm on five namespaces: discovery, static peers, restart, topics, forgeries, routing",
  ignore: why !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tmp = await tempDir("arca-swarm-ns-");
    let net: Net | undefined;
    const nodes: SwarmNode[] = [];
    const env = await nixEnv();
    try {
      net = await makeNet(6, [3]);
      const h = net.hosts;
      const keys = `${tmp.path}/keys`;
      await Deno.mkdir(keys);
      const team = await makeKey(keys, "team-1", env);
      const other = await makeKey(keys, "other-1", env);
      const nixpkgs = await makeKey(keys, "nixpkgs-test-1", env);
      const teamKey = (await arca(["keygen"])).stdout.trim();
      const otherTeamKey = (await arca(["keygen"])).stdout.trim();
      for (let i = 0; i < 5; i++) {
        const signer = i === 4 ? other : team;
        nodes.push(
          await makeNode(h[i], `${tmp.path}/n${i}`, [
            `signing_key_path = "${signer.secret}"`,
            `nixpkgs_keys = ["${nixpkgs.pub}"]`,
            i === 3 ? `static_peers = ["${h[0].ip}:7071"]` : "",
            ...segmentLines("universal", UNIVERSAL_TOPIC_KEY, "nixpkgs", [nixpkgs.pub]),
            ...segmentLines("team", i === 4 ? otherTeamKey : teamKey, "custom", [signer.pub]),
          ], env),
        );
      }
      const team4 = nodes.slice(0, 4);
      const everywhere = async (ns: SwarmNode[], hashPart: string, status = "200") => {
        for (const n of ns) if (await narinfoStatus(n, hashPart) !== status) return false;
        return true;
      };

      // Paths built with the real Nix (one store for every namespace).
      const custom = await buildPath("swarm-custom", "echo team build > $out", env);
      const custom2 = await buildPath("swarm-custom-2", "echo later build > $out", env);
      const nixpkgsPath = await buildPath("swarm-nixpkgs", "echo from nixpkgs > $out", env);
      await arcaOn(nodes[0], ["import", custom]);
      await arcaOn(nodes[1], ["import", "--signing-key", nixpkgs.secret, nixpkgsPath]);

      for (const n of nodes) startNode(n);

      // Multicast finds h0..h2 and h4; h3 has no multicast and comes in through its static peer.
      await until(
        "the team path on every team node",
        () => everywhere(team4, hashOf(custom)),
        nodes,
      );
      await until(
        "the nixpkgs path on every node (universal segment)",
        () => everywhere(nodes, hashOf(nixpkgsPath)),
        nodes,
      );
      assert.match(nodes[3].out, /multicast discovery is unavailable/);
      // The node of the other team key learns nothing of the team.
      assert.equal(await narinfoStatus(nodes[4], hashOf(custom)), "404");

      // A real Nix on h2 reads the narinfo replicated from h0.
      const info = await runIn(nodes[2].host, "nix", [
        "path-info",
        "--json",
        "--store",
        "http://127.0.0.1:5555",
        custom,
      ], { env });
      assert.equal(info.code, 0, info.stderr);
      const local = JSON.parse(await runOk("nix", ["path-info", "--json", custom], { env }));
      assert.equal(JSON.parse(info.stdout)[0].narHash, local[0].narHash);

      // The custom path is in no node's universal segment.
      for (const n of nodes) {
        const st = JSON.parse(await arcaOn(n, ["status", "--json"]));
        const uni = st.segments.find((s: { name: string }) => s.name === "universal");
        assert.equal(uni.localPaths + uni.peerPaths, 1, `${n.host.ip}: only the nixpkgs path`);
      }
      const list = JSON.parse(await arcaOn(nodes[0], ["list", "--json"]));
      assert.deepEqual(
        list.find((x: { storePath: string }) => x.storePath === custom).segments,
        ["team"],
      );

      // SIGKILL h2; a path imported meanwhile reaches it once it is back.
      await stopNode(nodes[2], "SIGKILL");
      await arcaOn(nodes[0], ["import", custom2]);
      await until(
        "h1 has the new path",
        async () => (await narinfoStatus(nodes[1], hashOf(custom2))) === "200",
        nodes,
      );
      startNode(nodes[2]);
      await until(
        "the restarted node catches up",
        async () => (await narinfoStatus(nodes[2], hashOf(custom2))) === "200",
        nodes,
      );

      // A member gone bad (h5) injects forged states next to one good one.
      const teamSecret = parseSecretKey(await Deno.readTextFile(team.secret));
      const node0 = keyPairFromPrivate(decodeBase64(
        (await Deno.readTextFile(`${nodes[0].dir}/cache/swarm.key`)).trim().split(":")[1],
      )).publicKey;
      let mallory = generateKeyPair();
      // A larger key than h0's: h0 drives the rounds on this link and asks for states.
      while (compareBytes(mallory.publicKey, node0) <= 0) mallory = generateKeyPair();
      const holders = [{ node: mallory.publicKey, clock: Date.now(), live: true }];
      const good = { ...signedEntry(1, teamSecret, { salt: 77 }), holders };
      const badSig = { ...signedEntry(2, teamSecret, { salt: 77 }), holders };
      badSig.sigs = [badSig.sigs[0].slice(0, -8) + "AAAAAAA="];
      const untrusted = { ...signedEntry(3, testKey("stranger-1", 9), { salt: 77 }), holders };
      const tampered = { ...signedEntry(4, teamSecret, { salt: 77 }), holders };
      tampered.narSize += 1;
      const plan = `${tmp.path}/plan.json`;
      await Deno.writeTextFile(
        plan,
        JSON.stringify({
          connect: `${h[0].ip}:7071`,
          topicKey: teamKey,
          privateKey: encodeHex(mallory.privateKey),
          seconds: 30,
          states: [good, badSig, untrusted, tampered].map((e) => encodeBase64(encodeEntry(e))),
        }),
      );
      const peer = spawnIn(h[5], Deno.execPath(), [
        "run",
        "-A",
        "--quiet",
        new URL("./_swarm_peer.ts", import.meta.url).pathname,
        plan,
      ]);
      const peerOut = peer.output();
      await until(
        "the good state from the test peer everywhere",
        () => everywhere(team4, hashPartOf(1, 77)),
        nodes,
      );
      // Give the forged ones the same time to spread (they must not).
      await new Promise((r) => setTimeout(r, 3_000));
      for (const f of [2, 3, 4]) {
        assert.ok(await everywhere(team4, hashPartOf(f, 77), "404"), `forged ${f} spread`);
      }
      assert.match(nodes[0].out, /refused \d+ narinfo\(s\) from .* on team: bad signature/);
      assert.match(nodes[0].out, /untrusted key/);
      try {
        peer.kill("SIGKILL");
      } catch { /* gone */ }
      await peerOut;

      // SIGTERM stops every node cleanly.
      for (const n of nodes) await stopNode(n, "SIGTERM");
      for (const n of nodes) assert.match(n.out, /swarm stopped/);
    } finally {
      await stopAll(nodes);
      await net?.cleanup();
      await tmp.cleanup();
    }
  },
});
