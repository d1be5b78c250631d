/**
 * Several caches behind one app, without a socket: which cache a request
 * reaches and as what path (`mountCaches`), where its response is counted,
 * what configuration a `[[caches]]` entry runs with (`configOfCache`), and
 * that the default cache's gc does not count the entries' directories.
 */
import assert from "node:assert/strict";
import { mountCaches } from "../lib/server/cache_mounts.ts";
import type { AppRequest, AppResponse } from "../lib/server/app.ts";
import { checkCaches, checkStorages, configOfCache, DEFAULTS } from "../lib/config/mod.ts";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { measureCache } from "../lib/gc/_measure.ts";
import { tempDir } from "./_run.ts";

function echo(who: string) {
  return (r: AppRequest): AppResponse =>
    new Response(JSON.stringify({ who, url: r.url, base: r.base ?? "", method: r.method }));
}

function app() {
  const seen: string[] = [];
  const observer = (who: string) => (m: string, p: string, s: number) =>
    seen.push(`${who} ${m} ${p} ${s}`);
  const mounted = mountCaches(
    { handle: echo("root"), observe: observer("root") },
    new Map([
      ["team", { handle: echo("team"), observe: observer("team") }],
      ["ci-2", { handle: echo("ci-2"), observe: observer("ci-2") }],
    ]),
  );
  return { ...mounted, seen };
}

async function call(a: ReturnType<typeof app>, url: string, method = "GET") {
  const res = await a.handle(new Request(url, { method })) as Response;
  return res.status === 200 ? await res.json() : { status: res.status, res };
}

Deno.test("requests reach the cache their first segment names, as if it were at the root", async () => {
  const a = app();
  const cases: [string, string, string, string][] = [
    // url, cache, url it sees, base
    ["http://h:1/team/abc.narinfo", "team", "http://h:1/abc.narinfo", "/team"],
    ["http://h:1/team/nar/x.nar.zst?y=1", "team", "http://h:1/nar/x.nar.zst?y=1", "/team"],
    ["http://h:1/team/", "team", "http://h:1/", "/team"],
    ["http://h:1/ci-2/nix-cache-info", "ci-2", "http://h:1/nix-cache-info", "/ci-2"],
    ["http://h:1/team/team/x", "team", "http://h:1/team/x", "/team"],
    // Cachix: the client names its cache after /api/v1/cache/.
    [
      "http://h:1/api/v1/cache/team/narinfo",
      "team",
      "http://h:1/api/v1/cache/team/narinfo",
      "/team",
    ],
    [
      "http://h:1/team/api/v1/cache/any/narinfo",
      "team",
      "http://h:1/api/v1/cache/any/narinfo",
      "/team",
    ],
    // Everything else is the default cache's, unchanged.
    ["http://h:1/abc.narinfo", "root", "http://h:1/abc.narinfo", ""],
    ["http://h:1/nar/team/x", "root", "http://h:1/nar/team/x", ""],
    ["http://h:1/teams/x", "root", "http://h:1/teams/x", ""],
    ["http://h:1/Team/x", "root", "http://h:1/Team/x", ""],
    ["http://h:1/api/v1/cache/other/narinfo", "root", "http://h:1/api/v1/cache/other/narinfo", ""],
    ["http://h:1/", "root", "http://h:1/", ""],
    ["http://h:1/metrics", "root", "http://h:1/metrics", ""],
    ["http://h:1/?team/x", "root", "http://h:1/?team/x", ""],
  ];
  for (const [url, who, sees, base] of cases) {
    for (const method of ["GET", "PUT"]) {
      const got = await call(a, url, method);
      assert.deepEqual(got, { who, url: sees, base, method }, `${method} ${url}`);
    }
  }
});

Deno.test("a cache's name alone redirects to its page, the query kept", async () => {
  const a = app();
  for (const [url, to] of [["http://h/team", "/team/"], ["http://h/team?x=1", "/team/?x=1"]]) {
    const got = await call(a, url);
    assert.equal(got.status, 308, url);
    assert.equal(got.res.headers.get("location"), to);
  }
});

Deno.test("responses are counted by the cache that gave them, with its own paths", () => {
  const a = app();
  a.observe!("GET", "/team/abc.narinfo", 200, 10);
  a.observe!("GET", "/abc.narinfo", 404, 10);
  a.observe!("PUT", "/ci-2/nar/x.nar", 401, 10);
  a.observe!("POST", "/api/v1/cache/team/narinfo", 200, 10);
  a.observe!("GET", "/team", 308, 10);
  a.observe!("GET", "/api/v1/cache/else", 200, 10);
  assert.deepEqual(a.seen, [
    "team GET /abc.narinfo 200",
    "root GET /abc.narinfo 404",
    "ci-2 PUT /nar/x.nar 401",
    "team POST /api/v1/cache/team/narinfo 200",
    "root GET /team 308",
    "root GET /api/v1/cache/else 200",
  ]);
});

Deno.test("without [[caches]] the app is the default cache's own, untouched", () => {
  const root = { handle: echo("root") };
  assert.equal(mountCaches(root, new Map()), root);
});

Deno.test("a [[caches]] entry runs with its own directory, storages, tokens and keys", () => {
  const [team] = checkCaches([{
    name: "team",
    storages: ["bucket"],
    storage_strategy: "round-robin",
    max_age: "7d",
    upload_tokens: ["t1"],
    read_token: "r",
    signing_key_paths: ["~/keys/team.secret"],
    priority: 20n,
  }]);
  const storages = checkStorages([
    { name: "bucket", type: "s3", endpoint: "http://127.0.0.1:1", bucket: "arca", prefix: "x/" },
    { name: "disk", type: "local", path: "/mnt/d/" },
  ]);
  const top = {
    ...DEFAULTS,
    cache_dir: "/var/lib/arca",
    db_path: "/var/lib/arca/db",
    upload_tokens: ["root"],
    upload_tokens_file: "/run/tokens",
    read_token: "",
    signing_key_path: "/k/root.secret",
    max_size: "10G",
    max_age: "30d",
    compression: "xz" as const,
    storages,
    caches: [team],
  };
  const c = configOfCache(top, team, "/home/me");
  assert.equal(c.cache_dir, "/var/lib/arca/caches/team");
  assert.equal(c.db_path, "/var/lib/arca/caches/team/db");
  assert.deepEqual(c.upload_tokens, ["t1"]);
  assert.equal(c.upload_tokens_file, "");
  assert.equal(c.read_token, "r");
  assert.equal(c.signing_key_path, "");
  assert.deepEqual(c.signing_key_paths, ["/home/me/keys/team.secret"]);
  assert.equal(c.priority, 20);
  assert.equal(c.max_age, "7d");
  assert.equal(c.max_size, "");
  assert.deepEqual(c.cache_storages, ["bucket"]);
  assert.equal(c.storage_strategy, "round-robin");
  assert.deepEqual(c.caches, []);
  // The rest is the top level's.
  assert.equal(c.compression, "xz");
  // Its objects go under caches/team/ of every storage: gc of one cache never sees another's.
  assert.equal(c.storages[0].prefix, "x/caches/team/");
  assert.equal(c.storages[1].path, "/mnt/d/caches/team");
  // No storages: its own directory only ("local"), not every storage as for the default cache.
  const [own] = checkCaches([{ name: "own" }]);
  assert.deepEqual(configOfCache(top, own, "/home/me").cache_storages, ["local"]);
  // The top level is not changed.
  assert.equal(top.storages[0].prefix, "x/");
});

Deno.test("the default cache's size does not count the [[caches]] directories under it", async () => {
  const tmp = await tempDir();
  try {
    const layout = cacheLayout(`${tmp.path}/cache`);
    await (await KvStore.open(layout)).close();
    const before = await measureCache(layout);
    await Deno.mkdir(`${layout.caches}/team/packs`, { recursive: true });
    await Deno.writeFile(`${layout.caches}/team/packs/p.pack`, new Uint8Array(1 << 20));
    const after = await measureCache(layout);
    // The directory itself counts (as tmp/ does), not what it holds.
    const dir = (await Deno.lstat(layout.caches)).size;
    assert.equal(after.total, before.total + dir);
    assert.ok(
      (await measureCache(cacheLayout(`${layout.caches}/team`))).total > 1 << 20,
      "the entry's own measure counts its packs",
    );
  } finally {
    await tmp.cleanup();
  }
});
