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
import { encodeBase64, encodeHex } from "../lib/encoding/mod.ts";
import { generateKeyPair, keyPairFromPrivate } from "../lib/swarm/noise/mod.ts";
import { decodeBase64 } from "../lib/encoding/mod.ts";
import { compareBytes, encodeEntry } from "../lib/swarm/proto/entry.ts";
import { UNIVERSAL_TOPIC_KEY } from "../lib/config/segments.ts";
import { type Host, makeNet, type Net, netnsUnavailable, runIn, spawnIn } from "./_netns.ts";
import { arca, arcaArgs, buildPath, nixEnv, runOk, tempDir } from "./_run.ts";
import { makeKey } from "./_cache_fixture.ts";
import { hashPartOf, signedEntry, testKey } from "./_swarm_fixtures.ts";
import { parseSecretKey } from "../lib/sign/mod.ts";

const why = await netnsUnavailable();
if (why) console.error(`swarm_netns_test: skipped: ${why}`);

interface Node {
  host: Host;
  dir: string;
  config: string;
  child?: Deno.ChildProcess;
  out: string;
}

function hashOf(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1, p.lastIndexOf("/") + 33);
}

Deno.test({
  name: "swarm on five namespaces: discovery, static peers, restart, topics, forgeries, routing",
  ignore: why !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tmp = await tempDir("arca-swarm-ns-");
    let net: Net | undefined;
    const nodes: Node[] = [];
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

      const configFor = (i: number) => {
        const topic = i === 4 ? otherTeamKey : teamKey;
        const signer = i === 4 ? other : team;
        return [
          `cache_dir = "${tmp.path}/n${i}/cache"`,
          `signing_key_path = "${signer.secret}"`,
          `bind = "127.0.0.1:5555"`,
          `nixpkgs_keys = ["${nixpkgs.pub}"]`,
          i === 3 ? `static_peers = ["${h[0].ip}:7071"]` : "",
          "[[segments]]",
          `name = "universal"`,
          `topic_key = "${UNIVERSAL_TOPIC_KEY}"`,
          `filter = "nixpkgs"`,
          `trusted_public_keys = ["${nixpkgs.pub}"]`,
          "[[segments]]",
          `name = "team"`,
          `topic_key = "${topic}"`,
          `filter = "custom"`,
          `trusted_public_keys = ["${signer.pub}"]`,
          "",
        ].join("\n");
      };
      for (let i = 0; i < 5; i++) {
        const dir = `${tmp.path}/n${i}`;
        await Deno.mkdir(`${dir}/home`, { recursive: true });
        await Deno.writeTextFile(`${dir}/config.toml`, configFor(i));
        nodes.push({ host: h[i], dir, config: `${dir}/config.toml`, out: "" });
      }
      const nodeEnv = (n: Node) => ({
        ...env,
        HOME: `${n.dir}/home`,
        DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
      });
      const start = (n: Node) => {
        n.child = spawnIn(
          n.host,
          Deno.execPath(),
          arcaArgs(["--config", n.config, "swarm", "--also-serve"]),
          {
            env: nodeEnv(n),
          },
        );
        const dec = new TextDecoder();
        for (const s of [n.child.stdout, n.child.stderr]) {
          void (async () => {
            for await (const c of s) n.out += dec.decode(c);
          })().catch(() => {});
        }
      };
      const stop = async (n: Node, signal: Deno.Signal) => {
        if (!n.child) return;
        try {
          n.child.kill(signal);
        } catch { /* gone */ }
        await n.child.status;
        n.child = undefined;
      };
      const narinfo = async (n: Node, hashPart: string) => {
        const r = await runIn(n.host, "curl", [
          "-s",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          `http://127.0.0.1:5555/${hashPart}.narinfo`,
        ]);
        return r.stdout.trim();
      };
      const until = async (what: string, f: () => Promise<boolean>, ms = 40_000) => {
        const end = Date.now() + ms;
        while (!(await f())) {
          if (Date.now() > end) {
            throw new Error(
              `timed out waiting for ${what}\n${
                nodes.map((n, i) => `--- node ${i}\n${n.out}`).join("\n")
              }`,
            );
          }
          await new Promise((r) => setTimeout(r, 300));
        }
      };
      const importOn = async (n: Node, path: string, extra: string[] = []) => {
        await runOk(Deno.execPath(), arcaArgs(["--config", n.config, "import", ...extra, path]), {
          env: nodeEnv(n),
        });
      };

      // Paths built with the real Nix (one store for every namespace).
      const custom = await buildPath("swarm-custom", "echo team build > $out", env);
      const custom2 = await buildPath("swarm-custom-2", "echo later build > $out", env);
      const nixpkgsPath = await buildPath("swarm-nixpkgs", "echo from nixpkgs > $out", env);
      await importOn(nodes[0], custom);
      await importOn(nodes[1], nixpkgsPath, ["--signing-key", nixpkgs.secret]);

      for (const n of nodes) start(n);
      const team4 = nodes.slice(0, 4);

      // Multicast finds h0..h2 and h4; h3 has no multicast and comes in through its static peer.
      await until("the team path on every team node", async () => {
        for (const n of team4) if (await narinfo(n, hashOf(custom)) !== "200") return false;
        return true;
      });
      await until("the nixpkgs path on every node (universal segment)", async () => {
        for (const n of nodes) if (await narinfo(n, hashOf(nixpkgsPath)) !== "200") return false;
        return true;
      });
      assert.match(nodes[3].out, /multicast discovery is unavailable|linked with/);
      // The node of the other team key learns nothing of the team.
      assert.equal(await narinfo(nodes[4], hashOf(custom)), "404");

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
      for (const n of nodes.slice(0, 5)) {
        const st = JSON.parse(
          await runOk(Deno.execPath(), arcaArgs(["--config", n.config, "status", "--json"]), {
            env: nodeEnv(n),
          }),
        );
        const uni = st.segments.find((s: { name: string }) => s.name === "universal");
        const total = uni.localPaths + uni.peerPaths;
        assert.equal(total, 1, `node ${n.host.ip}: universal has only the nixpkgs path`);
      }
      const list = JSON.parse(
        await runOk(Deno.execPath(), arcaArgs(["--config", nodes[0].config, "list", "--json"]), {
          env: nodeEnv(nodes[0]),
        }),
      );
      assert.deepEqual(list.find((x: { storePath: string }) => x.storePath === custom).segments, [
        "team",
      ]);

      // SIGKILL h2; a path imported meanwhile reaches it once it is back.
      await stop(nodes[2], "SIGKILL");
      await importOn(nodes[0], custom2);
      await until(
        "h1 has the new path",
        async () => (await narinfo(nodes[1], hashOf(custom2))) === "200",
      );
      start(nodes[2]);
      await until(
        "the restarted node catches up",
        async () => (await narinfo(nodes[2], hashOf(custom2))) === "200",
      );

      // A member gone bad (h5) injects forged states next to one good one.
      const teamSecret = parseSecretKey(await Deno.readTextFile(team.secret));
      const stranger = testKey("stranger-1", 9);
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
      const untrusted = { ...signedEntry(3, stranger, { salt: 77 }), holders };
      const tampered = { ...signedEntry(4, teamSecret, { salt: 77 }), holders };
      tampered.narSize += 1;
      const states = `${tmp.path}/states`;
      await Deno.writeTextFile(
        states,
        [good, badSig, untrusted, tampered].map((e) => encodeBase64(encodeEntry(e))).join("\n") +
          "\n",
      );
      const peer = spawnIn(h[5], Deno.execPath(), [
        "run",
        "-A",
        "--quiet",
        new URL("./_swarm_peer.ts", import.meta.url).pathname,
        `${h[0].ip}:7071`,
        teamKey,
        encodeHex(mallory.privateKey),
        states,
        "30",
      ]);
      const peerOut = peer.output();
      await until("the good state from the test peer everywhere", async () => {
        for (const n of team4) {
          if (await narinfo(n, hashPartOf(1, 77)) !== "200") return false;
        }
        return true;
      });
      // Give the forged ones the same time to spread (they must not).
      await new Promise((r) => setTimeout(r, 3_000));
      for (const n of team4) {
        for (const f of [2, 3, 4]) {
          assert.equal(await narinfo(n, hashPartOf(f, 77)), "404", `forged ${f} on ${n.host.ip}`);
        }
      }
      assert.match(nodes[0].out, /refused \d+ narinfo\(s\) from .* on team: bad signature/);
      assert.match(nodes[0].out, /untrusted key/);
      try {
        peer.kill("SIGKILL");
      } catch { /* gone */ }
      await peerOut;

      // SIGTERM stops every node cleanly.
      for (const n of nodes) await stop(n, "SIGTERM");
      for (const n of nodes) assert.match(n.out, /swarm stopped/);
    } finally {
      for (const n of nodes) {
        if (n.child) {
          try {
            n.child.kill("SIGKILL");
          } catch { /* gone */ }
          await n.child.status.catch(() => {});
        }
      }
      await net?.cleanup();
      await tmp.cleanup();
    }
  },
});
