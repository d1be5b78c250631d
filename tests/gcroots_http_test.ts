/**
 * `PUT /gcroots/<name>` and `DELETE /gcroots/<name>` against a real
 * `arca serve`: the upload token is needed (401/403 as for uploads), bad
 * names and bad lines are 400s naming them, and `arca gc` keeps the closure
 * of a live root, but not of an expired or deleted one.
 */
import assert from "node:assert/strict";
import { arca, buildPath, nixEnv, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv } from "./_cache_fixture.ts";

const TOKEN = "roots-token";

async function req(
  url: string,
  method: string,
  body?: string,
  token?: string,
  headers: Record<string, string> = {},
) {
  if (token !== undefined) headers.authorization = `Basic ${btoa(`ci:${token}`)}`;
  const res = await fetch(url, { method, body, headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

Deno.test("gcroots over HTTP: auth, validation, expiry, and gc keeps their closures", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  await Deno.mkdir(`${tmp.path}/home/.config/arca`, { recursive: true });
  await Deno.writeTextFile(
    `${tmp.path}/home/.config/arca/config.toml`,
    `upload_tokens = ["${TOKEN}"]\n`,
  );
  const closedConfig = `${tmp.path}/closed.toml`;
  await Deno.writeTextFile(closedConfig, "");
  try {
    const lib = await buildPath("roots-lib", "mkdir -p $out; echo lib > $out/x", nix);
    const app = await buildPath("roots-app", "mkdir -p $out; echo $lib > $out/lib", nix, {
      deps: { lib },
    });
    const other = await buildPath("roots-other", "mkdir -p $out; echo other > $out/x", nix);
    for (const p of [app, other]) {
      const r = await arca(["import-closure", p], { env });
      assert.equal(r.code, 0, r.stderr);
    }
    const server = await startServer([], env);
    const closed = await startServer([], { ...env, ARCA_CONFIG: closedConfig });
    try {
      const root = (name: string) => `${server.url}/gcroots/${name}`;
      // Auth exactly as for uploads.
      let r = await req(`${closed.url}/gcroots/ci`, "PUT", `${app}\n`, TOKEN);
      assert.equal(r.status, 403);
      assert.match(r.text, /no upload token is configured/);
      r = await req(root("ci"), "PUT", `${app}\n`);
      assert.equal(r.status, 401);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Basic realm="arca"/);
      r = await req(root("ci"), "PUT", `${app}\n`, "wrong");
      assert.equal(r.status, 401);
      assert.match(r.text, /wrong upload token/);
      r = await req(root("ci"), "DELETE", undefined, "wrong");
      assert.equal(r.status, 401);

      // Validation: names, lines, expiry.
      for (const bad of ["", "..x", "%2e%2e%2fetc", "pin:x", "a%2Fb", "-x"]) {
        r = await req(root(bad), "PUT", `${app}\n`, TOKEN);
        assert.equal(r.status, 400, `${bad}: ${r.text}`);
        assert.match(r.text, /invalid root name/);
      }
      r = await req(root("ci"), "PUT", `${app}\n/etc/passwd\n`, TOKEN);
      assert.equal(r.status, 400);
      assert.match(r.text, /line 2: .*not in the store directory/);
      r = await req(root("ci"), "PUT", `\n${lib.slice(11)}\nnot-a-path\n`, TOKEN);
      assert.equal(r.status, 400);
      assert.match(r.text, /line 3: Invalid store path 'not-a-path'/);
      r = await req(root("ci"), "PUT", "\n\n", TOKEN);
      assert.equal(r.status, 400);
      assert.match(r.text, /lists no store paths/);
      r = await req(root("ci"), "PUT", `${app}\n`, TOKEN, { "x-arca-expires": "soon" });
      assert.equal(r.status, 400);
      assert.match(r.text, /expires: invalid duration 'soon'/);
      assert.equal((await arca(["pins", "--json"], { env })).stdout.trim(), "[]");

      // Accepted: a full path, a basename, an expiring root, a path not cached yet.
      r = await req(root("ci"), "PUT", `${app}\n`, TOKEN);
      assert.equal(r.status, 201, r.text);
      r = await req(root("ci"), "PUT", `${app}\r\n`, TOKEN);
      assert.equal(r.status, 200, r.text);
      r = await req(root("base"), "PUT", `${lib.slice(11)}\n`, TOKEN);
      assert.equal(r.status, 201, r.text);
      r = await req(`${root("short")}?expires=2s`, "PUT", `${other}\n`, TOKEN);
      assert.equal(r.status, 201, r.text);
      const future = "/nix/store/00000000000000000000000000000000-not-pushed-yet";
      r = await req(root("future"), "PUT", `${future}\n`, TOKEN, { "x-arca-expires": "1h" });
      assert.equal(r.status, 201, r.text);
      assert.match(r.text, /1 not cached yet/);
      const pins = JSON.parse((await arca(["pins", "--json"], { env })).stdout) as {
        name: string;
        paths: string[];
        expiresAt?: number;
      }[];
      const byName = new Map(pins.map((p) => [p.name, p]));
      assert.deepEqual([...byName.keys()].sort(), ["base", "ci", "future", "short"]);
      assert.deepEqual(byName.get("base")!.paths, [lib]);
      assert.equal(byName.get("ci")!.expiresAt, undefined);
      assert.ok(byName.get("future")!.expiresAt! > Date.now() + 3_500_000);

      // gc: the expired root no longer protects `other`; `ci` keeps app and lib.
      await new Promise((res) => setTimeout(res, 2_100));
      const list = async () =>
        (JSON.parse((await arca(["list", "--json"], { env })).stdout) as { storePath: string }[])
          .map((i) => i.storePath).sort();
      let g = await arca(["gc", "--max-age", "0s", "--grace", "0s"], { env });
      assert.equal(g.code, 0, g.stderr);
      assert.deepEqual(await list(), [app, lib].sort());

      // Deleting `ci`: app goes, lib stays (the `base` root names it).
      r = await req(root("nope"), "DELETE", undefined, TOKEN);
      assert.equal(r.status, 404);
      r = await req(root("ci"), "DELETE", undefined, TOKEN);
      assert.equal(r.status, 200, r.text);
      g = await arca(["gc", "--max-age", "0s", "--grace", "0s"], { env });
      assert.equal(g.code, 0, g.stderr);
      assert.deepEqual(await list(), [lib]);
      // The running server follows: app's narinfo is gone, lib's is served.
      const deadline = Date.now() + 5_000;
      let appStatus = 0;
      while (Date.now() < deadline) {
        appStatus = (await req(`${server.url}/${app.slice(11, 43)}.narinfo`, "GET")).status;
        if (appStatus === 404) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(appStatus, 404);
      assert.equal((await req(`${server.url}/${lib.slice(11, 43)}.narinfo`, "GET")).status, 200);
    } finally {
      await server.stop();
      await closed.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});
