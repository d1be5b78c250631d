/**
 * Several caches on one server, end to end with the real Nix: the default
 * cache at `/` and two `[[caches]]` entries, `team` and `ci`, on one port,
 * each with its own tokens, signing key and retention. `nix copy` pushes to
 * each prefix with that cache's token (the others' tokens are refused), a
 * real Nix substitutes from each prefix trusting only that cache's key,
 * `arca --cache NAME` (import, install-hook and its hook, status, list, gc,
 * audit) addresses one cache, `/metrics`, the status pages and the Cachix
 * API answer per cache. After a restart (on the portable HTTP driver; the
 * first run is on the epoll front) with `max_age = "2s"` for team: serve's
 * scheduled gc runs for team and ci (each with a max_age) and never for the
 * default cache (none), and team's configured max_age removes team's paths
 * while ci and the default cache keep all of theirs. Bad cache names stop
 * Arca with a clear error.
 */
import assert from "node:assert/strict";
import { arca, buildPath, deleteStorePaths, nixEnv, run, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv, makeKey, narHashes, substitute } from "./_cache_fixture.ts";
import { CachixClient } from "./_cachix_client.ts";

const TOKENS = { root: "root-token-1", team: "team-token-1", ci: "ci-token-1" };

function config(keys: Record<"root" | "team" | "ci", string>, teamMaxAge: string): string {
  return [
    `upload_tokens = ["${TOKENS.root}"]`,
    `signing_key_path = "${keys.root}"`,
    `gc_interval = "1s"`,
    "",
    "[[caches]]",
    `name = "team"`,
    `upload_tokens = ["${TOKENS.team}"]`,
    `signing_key_paths = ["${keys.team}"]`,
    `max_age = "${teamMaxAge}"`,
    "priority = 30",
    "",
    "[[caches]]",
    `name = "ci"`,
    `upload_tokens = ["${TOKENS.ci}"]`,
    `signing_key_paths = ["${keys.ci}"]`,
    `max_age = "1h"`,
    "",
  ].join("\n");
}

async function smallClosure(nix: Record<string, string>) {
  const lib = await buildPath(
    "caches-lib",
    "mkdir -p $out; head -c 200000 /dev/urandom > $out/blob",
    nix,
  );
  const app = await buildPath(
    "caches-app",
    "mkdir -p $out; echo $lib > $out/lib; echo hello > $out/greeting",
    nix,
    { deps: { lib } },
  );
  return { top: app, paths: [app, lib] };
}

const hashOf = (p: string) => p.slice(11, 43);

Deno.test("several caches on one port: own tokens, keys, stores, metrics and retention", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const confDir = `${tmp.path}/home/.config/arca`;
  await Deno.mkdir(confDir, { recursive: true });
  const cli = async (args: string[]) => {
    const r = await arca(args, { env });
    assert.equal(r.code, 0, `arca ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const paths = async (cache?: string) =>
    JSON.parse(await cli([...(cache ? ["--cache", cache] : []), "status", "--json"])).paths;
  try {
    const keys = {
      root: await makeKey(tmp.path, "root-1", env),
      team: await makeKey(tmp.path, "team-1", env),
      ci: await makeKey(tmp.path, "ci-1", env),
    };
    const secrets = { root: keys.root.secret, team: keys.team.secret, ci: keys.ci.secret };
    await Deno.writeTextFile(`${confDir}/config.toml`, config(secrets, "1h"));
    const closure = await smallClosure(nix);
    const before = await narHashes(closure.top, nix);

    let server = await startServer([], env);
    try {
      const url = server.url;
      const narinfo = async (prefix: string, storePath: string) => {
        const r = await fetch(`${url}${prefix}/${hashOf(storePath)}.narinfo`);
        return { status: r.status, text: await r.text() };
      };
      const push = (prefix: string, token: string) =>
        run("nix", [
          "copy",
          "--to",
          `${url.replace("http://", `http://u:${token}@`)}${prefix}?compression=zstd`,
          closure.top,
        ], { env: nix });

      // Each prefix is its own cache with its own nix-cache-info.
      const info = async (prefix: string) =>
        await (await fetch(`${url}${prefix}/nix-cache-info`)).text();
      assert.match(await info(""), /^Priority: 40$/m);
      assert.match(await info("/team"), /^Priority: 30$/m);
      assert.match(await info("/ci"), /^Priority: 40$/m);

      // The default cache first: the named caches do not see its paths.
      const rootPush = await push("", TOKENS.root);
      assert.equal(rootPush.code, 0, rootPush.stderr);
      assert.equal((await narinfo("", closure.top)).status, 200);
      assert.equal((await narinfo("/team", closure.top)).status, 404);
      assert.equal((await narinfo("/ci", closure.top)).status, 404);

      // Tokens are per cache: team refuses the default cache's and ci's.
      for (const wrong of [TOKENS.root, TOKENS.ci]) {
        const r = await push("/team", wrong);
        assert.notEqual(r.code, 0, `team took the token ${wrong}`);
        const put = await fetch(`${url}/team/${hashOf(closure.top)}.narinfo`, {
          method: "PUT",
          body: "StorePath: x\n",
          headers: { authorization: `Basic ${btoa(`u:${wrong}`)}` },
        });
        await put.body?.cancel();
        assert.equal(put.status, 401);
      }
      assert.equal((await narinfo("/team", closure.top)).status, 404);
      const teamPush = await push("/team", TOKENS.team);
      assert.equal(teamPush.code, 0, teamPush.stderr);
      assert.equal((await narinfo("/ci", closure.top)).status, 404, "ci saw team's push");
      const ciPush = await push("/ci", TOKENS.ci);
      assert.equal(ciPush.code, 0, ciPush.stderr);

      // Each cache signed with its own key.
      assert.match((await narinfo("", closure.top)).text, /^Sig: root-1:/m);
      const teamInfo = (await narinfo("/team", closure.top)).text;
      assert.match(teamInfo, /^Sig: team-1:/m);
      assert.doesNotMatch(teamInfo, /root-1:|ci-1:/);
      assert.match((await narinfo("/ci", closure.top)).text, /^Sig: ci-1:/m);

      // A real Nix substitutes from each prefix with that cache's key, and only with it.
      const each: [string, { pub: string }][] = [
        ["/team", keys.team],
        ["/ci", keys.ci],
        ["", keys.root],
      ];
      for (const [prefix, key] of each) {
        await deleteStorePaths(closure.paths, nix);
        const ok = await substitute([closure.top], `${url}${prefix}`, key.pub, nix);
        assert.equal(ok.code, 0, `${prefix || "/"}: ${ok.stderr}`);
        assert.deepEqual(await narHashes(closure.top, nix), before);
      }
      await deleteStorePaths(closure.paths, nix);
      const untrusted = await substitute([closure.top], `${url}/team`, keys.ci.pub, nix);
      assert.notEqual(untrusted.code, 0, "team's paths passed with ci's key");
      const back = await substitute([closure.top], `${url}/team`, keys.team.pub, nix);
      assert.equal(back.code, 0, back.stderr);

      // --cache addresses one cache: an import into ci is served there within the poll.
      const extra = await buildPath("caches-extra", "echo extra > $out", nix);
      await cli(["--cache", "ci", "import", extra]);
      let seen = 0;
      for (let i = 0; i < 50 && seen !== 200; i++) {
        seen = (await narinfo("/ci", extra)).status;
        if (seen !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(seen, 200);
      assert.match((await narinfo("/ci", extra)).text, /^Sig: ci-1:/m);
      assert.equal((await narinfo("/team", extra)).status, 404);
      assert.equal((await narinfo("", extra)).status, 404);
      // install-hook --cache: the hook it writes imports into that cache.
      const etc = `${tmp.path}/etc`;
      await cli([
        "--cache",
        "ci",
        "install-hook",
        "--nix-conf",
        `${etc}/nix.conf`,
        "--hook-path",
        `${etc}/hook`,
      ]);
      assert.match(await Deno.readTextFile(`${etc}/hook`), /'--cache' 'ci' 'hook'/);
      const hooked = await buildPath("caches-hooked", "echo hooked > $out", nix);
      const hook = await run(`${etc}/hook`, [], { env: { ...env, OUT_PATHS: hooked } });
      assert.equal(hook.code, 0, hook.stderr);
      seen = 0;
      for (let i = 0; i < 50 && seen !== 200; i++) {
        seen = (await narinfo("/ci", hooked)).status;
        if (seen !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(seen, 200, `the hook's import is not at /ci/: ${hook.stderr}`);
      assert.equal((await narinfo("", hooked)).status, 404);
      assert.equal(await paths("team"), 2);
      assert.equal(await paths("ci"), 4);
      assert.equal(await paths(), 2);
      const listed = JSON.parse(await cli(["--cache", "ci", "list", "--json"])) as {
        storePath: string;
      }[];
      assert.deepEqual(
        listed.map((p) => p.storePath).sort(),
        [...closure.paths, extra, hooked].sort(),
      );

      // Metrics and status pages: each cache's own figures.
      const metric = async (prefix: string, re: RegExp) => {
        const text = await (await fetch(`${url}${prefix}/metrics`)).text();
        return Number(re.exec(text)?.[1]);
      };
      const storePaths = /^arca_store_paths (\d+)$/m;
      const narinfoUploads = /^arca_uploads_total\{kind="narinfo"\} (\d+)$/m;
      assert.equal(await metric("", storePaths), 2);
      assert.equal(await metric("/ci", storePaths), 4);
      assert.equal(await metric("/team", storePaths), 2);
      assert.equal(await metric("", narinfoUploads), 2);
      assert.equal(await metric("/team", narinfoUploads), 2);
      const refused = /^arca_upload_refusals_total\{reason="unauthorized"\} (\d+)$/m;
      assert.ok((await metric("/team", refused)) >= 2);
      assert.ok(Number.isNaN(await metric("", refused)), "team's refusals counted at /");
      const teamStatus = await (await fetch(`${url}/team/status.json`)).json();
      assert.equal(teamStatus.store.paths, 2);
      assert.deepEqual(teamStatus.publicKeys, [keys.team.pub]);
      const page = await (await fetch(`${url}/team/`)).text();
      assert.match(page, new RegExp(`substituters = ${url}/team\\n`));
      const redirect = await fetch(`${url}/team`, { redirect: "manual" });
      await redirect.body?.cancel();
      assert.equal(redirect.status, 308);
      assert.equal(redirect.headers.get("location"), "/team/");

      // The Cachix client reaches team by its name, at the root or under its prefix.
      for (const host of [url, `${url}/team`]) {
        const c = await new CachixClient(host, "team", TOKENS.team).getCache();
        assert.equal(c.status, 200, c.text);
        assert.equal(c.json.uri, `${url}/team`);
        assert.deepEqual(c.json.publicSigningKeys, [keys.team.pub]);
        assert.equal(c.json.permission, "Write");
      }
      const other = await new CachixClient(url, "team", TOKENS.ci).getCache();
      assert.equal(other.status, 401);

      // serve and swarm work on every cache; an unknown name is a usage error.
      for (const args of [["--cache", "nope", "status"], ["--cache", "team", "serve"]]) {
        const r = await arca(args, { env });
        assert.equal(r.code, 2, `arca ${args.join(" ")}: ${r.stderr}`);
      }
      assert.match((await arca(["--cache", "nope", "status"], { env })).stderr, /"team", "ci"/);
    } finally {
      await server.stop();
    }

    // Retention per cache: team's max_age is now 2 s, ci's 1 h, the default cache has none.
    // serve runs gc every second for team and ci (each run leaves a GarbageCollect event in
    // that cache's own audit log), never for the default cache. Their paths are younger than
    // gc's 15-minute grace, so `arca --cache team gc --grace 0s` (team's configured max_age)
    // is what removes them here.
    // The first server's close flushed the last access times: team's paths are older than
    // its 2 s max_age only 2 s after that, whatever else this phase waits for.
    const oldEnough = Date.now() + 2_500;
    const gcRuns = async (cache?: string) =>
      (await cli([...(cache ? ["--cache", cache] : []), "audit", "--json"])).split("\n")
        .filter((l) => l.includes('"GarbageCollect"')).length;
    // The first server's scheduled runs are in the audit logs already: count this one's.
    const runsBefore = [await gcRuns("team"), await gcRuns("ci")];
    await Deno.writeTextFile(`${confDir}/config.toml`, config(secrets, "2s"));
    server = await startServer([], { ...env, ARCA_HTTP_IO: "portable" });
    try {
      let runs = [0, 0];
      for (let i = 0; i < 40 && !(runs[0] > 1 && runs[1] > 1); i++) {
        await new Promise((r) => setTimeout(r, 500));
        runs = [await gcRuns("team") - runsBefore[0], await gcRuns("ci") - runsBefore[1]];
      }
      assert.ok(runs[0] > 1 && runs[1] > 1, `scheduled gc runs: team ${runs[0]}, ci ${runs[1]}`);
      await new Promise((r) => setTimeout(r, Math.max(0, oldEnough - Date.now())));
      assert.equal(await gcRuns(), 0, "the default cache has no max_age: no scheduled gc");
      const gc = async (cache: string) => {
        // serve's own run may hold the cache's gc lock for a moment.
        for (let i = 0; i < 20; i++) {
          const r = await arca(["--cache", cache, "gc", "--grace", "0s"], { env });
          if (r.code === 0) return r.stdout;
          assert.match(r.stderr, /another gc is running/);
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(`arca --cache ${cache} gc never got the lock`);
      };
      assert.match(await gc("team"), /removed 2 paths/);
      assert.equal(await paths("team"), 0);
      assert.match(await gc("ci"), /removed 0 paths/);
      assert.equal(await paths("ci"), 4);
      assert.equal(await paths(), 2);
      const get = async (prefix: string) =>
        (await fetch(`${server.url}${prefix}/${hashOf(closure.top)}.narinfo`)).status;
      // The index follows gc's commits within its poll.
      let teamStatus = 200;
      for (let i = 0; i < 50 && teamStatus !== 404; i++) {
        teamStatus = await get("/team");
        if (teamStatus !== 404) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(teamStatus, 404);
      assert.equal(await get(""), 200);
      assert.equal(await get("/ci"), 200);
      await deleteStorePaths(closure.paths, nix);
      const ok = await substitute([closure.top], server.url, keys.root.pub, nix);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      await server.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("a cache named after one of Arca's routes is refused with the line and the reason", async () => {
  const tmp = await tempDir();
  try {
    const env = arcaEnv({}, tmp.path);
    const file = `${tmp.path}/config.toml`;
    for (const name of ["nar", "api", "metrics", "gcroots", "realisations"]) {
      await Deno.writeTextFile(file, `priority = 30\n\n[[caches]]\nname = "${name}"\n`);
      for (const args of [["config"], ["serve", "--bind", "127.0.0.1:0"], ["status"]]) {
        const r = await arca(["--config", file, ...args], { env });
        assert.equal(r.code, 1, `${name}, arca ${args[0]}: ${r.stderr}`);
        assert.match(
          r.stderr,
          new RegExp(
            `config\\.toml:4: "caches\\[0\\]\\.name" cannot be "${name}": /${name}/ is a route`,
          ),
        );
      }
    }
    await Deno.writeTextFile(file, `[[caches]]\nname = "Team.1"\n`);
    const r = await arca(["--config", file, "config"], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /config\.toml:2: "caches\[0\]\.name" must be 1 to 63 lowercase letters/);
  } finally {
    await tmp.cleanup();
  }
});
