/**
 * The status page as a person sees it: a real `arca serve` over a cache a
 * real Nix filled, opened by headless Chromium (Debian's `chromium`) at a
 * phone's size. The rendered DOM must show the live figures (after the
 * page's script refreshed them from /status.json), the nix.conf lines with
 * this cache's URL and public key, and the recent imports; the screenshot
 * must show the page drawn (header colour, text in the figure cards).
 */
import assert from "node:assert/strict";
import { arca, buildPath, nixEnv, run, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv, makeKey } from "./_cache_fixture.ts";
import { decodePng, pixelAt } from "./_png.ts";
import { renderStatusPage } from "../lib/server/status_page.ts";
import type { StatusSnapshot } from "../lib/server/status_source.ts";

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--hide-scrollbars",
];

Deno.test("status page: Chromium on a phone shows the live figures and how to use the cache", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_UPLOAD_TOKEN: "page-token" };
  try {
    const key = await makeKey(tmp.path, "status-page-1", env);
    const salt = crypto.randomUUID();
    const a = await buildPath("arca-status-a", "head -c 300000 /dev/urandom > $out", nix, { salt });
    const b = await buildPath("arca-status-b", "echo $a > $out", nix, { salt, deps: { a } });
    const imp = await arca(["import", "--signing-key", key.secret, a, b], { env });
    assert.equal(imp.code, 0, imp.stderr);
    const server = await startServer([], { ...env, ARCA_SIGNING_KEY: key.secret });
    try {
      // Traffic the page must count: 3 narinfo hits (answered on the HTTP thread).
      for (const p of [a, b, b]) {
        const r = await fetch(`${server.url}/${p.slice(11, 43)}.narinfo`);
        assert.equal(r.status, 200);
        await r.body?.cancel();
      }
      const profile = await Deno.makeTempDir({ dir: tmp.path, prefix: "chromium-" });
      const png = `${tmp.path}/status.png`;
      const r = await run("chromium", [
        ...CHROMIUM_FLAGS,
        `--user-data-dir=${profile}`,
        "--window-size=390,844",
        `--screenshot=${png}`,
        "--dump-dom",
        // Lets the page's script fetch /status.json before the DOM is dumped.
        "--virtual-time-budget=5000",
        `${server.url}/`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const dom = r.stdout;

      assert.match(
        dom,
        /<body data-live="1">/,
        "the script refreshed the figures from /status.json",
      );
      const figure = (k: string) => new RegExp(`data-k="${k}">([^<]*)<`).exec(dom)?.[1];
      assert.equal(figure("paths"), "2");
      assert.equal(figure("hits"), "3");
      assert.match(figure("narBytes") ?? "", /^29\d\.\d KiB$/);
      assert.match(figure("dedup") ?? "", /^\d+\.\d\dx$/);
      assert.equal(figure("lastImport")?.endsWith("ago"), true);
      const conf = /<pre id="nix-conf">([^<]*)<\/pre>/.exec(dom)?.[1] ?? "";
      assert.equal(conf, `substituters = ${server.url}\ntrusted-public-keys = ${key.pub}\n`);
      assert.match(dom, /<b>Import<\/b> <span>[0-9a-z]{32}-arca-status-b \(/);
      assert.match(dom, /id="no-peers"[^>]*>No peers: the swarm is not running/);

      const img = decodePng(await Deno.readFile(png));
      assert.deepEqual([img.width, img.height], [390, 844]);
      assert.equal(pixelAt(img, 3, 3), "#12352b", "the header is drawn in its colour");
      // The first figure card (light grey) holds dark text: the page has rendered, not just loaded.
      let card = 0, ink = 0;
      for (let y = 100; y < 400; y++) {
        for (let x = 0; x < img.width; x++) {
          const c = pixelAt(img, x, y);
          if (c === "#f3f6f4") card++;
          const i = (y * img.width + x) * 4;
          if (img.rgba[i] + img.rgba[i + 1] + img.rgba[i + 2] < 200) ink++;
        }
      }
      assert.ok(card > 10_000, `card pixels: ${card}`);
      assert.ok(ink > 500, `text pixels: ${ink}`);
    } finally {
      await server.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("status page: what the cache holds is escaped, and optional swarm parts show when present", () => {
  const snap: StatusSnapshot = {
    version: "0.1.0",
    backend: "kv",
    httpIo: "epoll",
    startedAt: 0,
    now: 60_000,
    store: { backend: "kv", paths: 1, narBytes: 1, fileBytes: 1, storedBytes: 1, chunks: 1 },
    dedupRatio: 1,
    indexPaths: 1,
    traffic: {
      requests: 0,
      narinfoHits: 0,
      narinfoMisses: 0,
      bytes: 0,
      narBytes: 0,
      uploadsAccepted: 0,
      uploadsRefused: 0,
    },
    runs: {
      import: { count: 0, ms: 0, items: 0, lastAt: 0 },
      gc: { count: 0, ms: 0, items: 0, lastAt: 0 },
    },
    recent: [{
      type: "Import",
      time: 1,
      path: "/nix/store/x-<img src=x onerror=alert(1)>",
      narSize: 1,
    }],
    publicKeys: ['k"1:abc'],
    private: false,
    uploads: "disabled",
    peers: [{ id: "peer-<b>", address: "10.0.0.2:7071", lastSeen: 30_000, paths: 5 }],
    segments: [{ name: "team-a", paths: 3 }],
  };
  const html = renderStatusPage(snap, { url: "http://cache.lan:5555", nonce: "n0nce" });
  assert.doesNotMatch(html, /<img/);
  assert.match(html, /x-&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(html, /trusted-public-keys = k&quot;1:abc/);
  assert.match(
    html,
    /<b>peer-&lt;b&gt;<\/b> <span>10\.0\.0\.2:7071<\/span> <time>30 s ago<\/time>/,
  );
  assert.match(html, /<b>team-a<\/b> <span>3 paths<\/span>/);
  assert.doesNotMatch(html, /No peers/);
  assert.match(html, /<script nonce="n0nce">/);
});
