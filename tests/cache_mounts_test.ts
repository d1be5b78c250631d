/**
 * Several caches behind one app: which cache a request reaches and as what
 * path (`mountCaches`, without a socket), where its response is counted,
 * the quick answers of mounted caches on both HTTP drivers (their own index,
 * counters and access times), what configuration a `[[caches]]` entry runs
 * with (`configOfCache`), and that the default cache's gc does not count the
 * entries' directories.
 */
import assert from "node:assert/strict";
import { mountCaches } from "../lib/server/cache_mounts.ts";
import type { AppRequest, AppResponse } from "../lib/server/app.ts";
import { checkCaches, checkStorages, configOfCache, DEFAULTS } from "../lib/config/mod.ts";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { measureCache } from "../lib/gc/_measure.ts";
import { tempDir } from "./_run.ts";
import { serveHttp } from "../lib/server/http_server.ts";
import { type FollowableIndex, IndexEntry, SharedBytes } from "../lib/server/index_entry.ts";
import { HashPartMap } from "../lib/store_path/mod.ts";
import { newWireCounters, WIRE } from "../lib/server/wire_counters.ts";

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

/** A narinfo index in memory that a test can change (as `serve`'s NarinfoIndex). */
class TestIndex implements FollowableIndex {
  readonly live = true;
  #map = new HashPartMap<IndexEntry>();
  #bytes = new SharedBytes();
  #listeners: ((h: string, e: IndexEntry | undefined) => void)[] = [];
  peekAt(buf: Uint8Array, at: number) {
    return this.#map.getAt(buf, at);
  }
  entries() {
    return this.#map.values();
  }
  onChange(fn: (h: string, e: IndexEntry | undefined) => void) {
    this.#listeners.push(fn);
  }
  onLive(_fn: () => void) {
    // Always live: nothing to wait for.
  }
  put(hashPart: string, text: string) {
    const e = new IndexEntry(hashPart, this.#bytes.copy(new TextEncoder().encode(text)));
    this.#map.set(hashPart, e);
    for (const fn of this.#listeners) fn(hashPart, e);
  }
}

const H1 = "0123456789abcdfghijklmnpqrsvwxyz";
const H2 = "1123456789abcdfghijklmnpqrsvwxyz";

for (const io of ["portable", "epoll"] as const) {
  Deno.test(`[${io}] mounted caches' narinfo hits are answered from their own index, counted apart`, async () => {
    const root = new TestIndex();
    const team = new TestIndex();
    root.put(H1, "root narinfo\n");
    team.put(H2, "team narinfo\n");
    const rootCounters = newWireCounters();
    const teamCounters = newWireCounters();
    const accessed: string[] = [];
    const appSaw: string[] = [];
    const enc = new TextEncoder();
    const server = serveHttp({ hostname: "127.0.0.1", port: 0, io }, {
      quick: { index: root, cacheInfo: enc.encode("Priority: 40\n") },
      quickMounts: [{
        name: "team",
        index: team,
        cacheInfo: enc.encode("Priority: 30\n"),
        onAccess: (h) => accessed.push(`team ${h}`),
        counters: teamCounters,
      }],
      counters: rootCounters,
      handle: (req) => {
        appSaw.push(new URL(req.url).pathname);
        return new Response("from the app\n", { status: 404 });
      },
    });
    const base = `http://127.0.0.1:${server.addr.port}`;
    const get = async (p: string) => {
      const r = await fetch(`${base}${p}`);
      return `${r.status} ${await r.text()}`;
    };
    try {
      assert.equal(await get(`/team/${H2}.narinfo`), "200 team narinfo\n");
      assert.equal(await get(`/team/${H1}.narinfo`), "404 not found\n");
      assert.equal(await get(`/${H1}.narinfo`), "200 root narinfo\n");
      assert.equal(await get(`/${H2}.narinfo`), "404 not found\n");
      assert.equal(await get("/team/nix-cache-info"), "200 Priority: 30\n");
      assert.equal(await get("/nix-cache-info"), "200 Priority: 40\n");
      // Not the cache's: the app answers.
      assert.equal(await get(`/teamx/${H2}.narinfo`), "404 from the app\n");
      assert.equal(await get(`/team/${H2}.narinfo?x`), "404 from the app\n");
      assert.deepEqual(appSaw, [`/teamx/${H2}.narinfo`, `/team/${H2}.narinfo`]);
      // A change of the mounted cache's index is followed.
      team.put(H1, "team has it now\n");
      await new Promise((r) => setTimeout(r, 0));
      assert.equal(await get(`/team/${H1}.narinfo`), "200 team has it now\n");
      const slot = (c: Uint32Array, i: number) => Atomics.load(c, i);
      assert.equal(slot(teamCounters, WIRE.narinfoHit), 2);
      assert.equal(slot(teamCounters, WIRE.narinfoMiss), 1);
      assert.equal(slot(teamCounters, WIRE.cacheInfo), 1);
      assert.equal(slot(rootCounters, WIRE.narinfoHit), 1);
      assert.equal(slot(rootCounters, WIRE.narinfoMiss), 1);
      assert.equal(slot(rootCounters, WIRE.cacheInfo), 1);
      // Access times go to the mounted cache's own recorder (the epoll front: once a second).
      for (let i = 0; i < 150 && accessed.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(accessed.sort(), [`team ${H1}`, `team ${H2}`]);
    } finally {
      await server.shutdown();
      await server.finished;
    }
  });
}
