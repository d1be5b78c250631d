/**
 * /metrics: the Prometheus text writer (checked by `promtool check metrics`,
 * the reference linter), the wrap-safe wire counters, and a real `arca
 * serve` on each HTTP driver whose figures must match the requests a test
 * made: narinfo hits and misses answered on the HTTP thread, a NAR
 * download, upload refusals by reason, and import and gc runs of other
 * processes read from KV. Then who may scrape: `metrics_token` and
 * `read_token`.
 */
import assert from "node:assert/strict";
import { formatMetrics, type MetricFamily } from "../lib/metrics/mod.ts";
import { newWireCounters, WireCounterReader } from "../lib/server/wire_counters.ts";
import { routeOf } from "../lib/server/server_metrics.ts";
import { arca, buildPath, nixEnv, run, runOk, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv, makeKey } from "./_cache_fixture.ts";
import { put } from "./_push_fixture.ts";

/** `promtool check metrics` on `text`; its complaints, or "" when it has none. */
async function promtool(text: string): Promise<string> {
  const r = await run("promtool", ["check", "metrics"], { stdin: text });
  return r.code === 0 ? "" : `${r.stdout}${r.stderr}` || `promtool exited ${r.code}`;
}

/** Sample lines as `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

Deno.test("formatMetrics: escapes labels and help, and promtool accepts the result", async () => {
  const families: MetricFamily[] = [
    {
      name: "arca_test_total",
      help: 'A help text with a back\\slash and a\nline feed, "quoted".',
      type: "counter",
      samples: [
        { labels: { route: 'we"ird\\value\nhere' }, value: 3 },
        { labels: { route: "plain" }, value: 0 },
      ],
    },
    {
      name: "arca_test_ratio",
      help: "Not a number yet.",
      type: "gauge",
      samples: [{ value: NaN }],
    },
    {
      name: "arca_test_seconds",
      help: "A summary without quantiles.",
      type: "summary",
      samples: [{ suffix: "_sum", value: 1.5 }, { suffix: "_count", value: 2 }],
    },
  ];
  const text = formatMetrics(families);
  assert.equal(await promtool(text), "");
  assert.match(text, /^# HELP arca_test_total A help text with a back\\\\slash and a\\nline feed/m);
  assert.match(text, /^arca_test_total\{route="we\\"ird\\\\value\\nhere"\} 3$/m);
  assert.match(text, /^arca_test_ratio NaN$/m);
  assert.match(text, /^arca_test_seconds_count 2$/m);
});

Deno.test("formatMetrics: bad names and repeated families are errors", () => {
  const f = (name: string, labels?: Record<string, string>): MetricFamily => ({
    name,
    help: "h",
    type: "gauge",
    samples: [{ labels, value: 1 }],
  });
  for (
    const [bad, why] of [
      [[f("9starts_with_digit")], /invalid metric name/],
      [[f("has-dash")], /invalid metric name/],
      [[f("ok", { "bad-label": "x" })], /invalid label name "bad-label"/],
      [[f("ok", { __reserved: "x" })], /invalid label name "__reserved"/],
      [[f("twice"), f("twice")], /given twice/],
    ] as [MetricFamily[], RegExp][]
  ) {
    assert.throws(() => formatMetrics(bad), (e) => e instanceof RangeError && why.test(e.message));
  }
});

Deno.test("WireCounterReader: totals run on past the 32-bit wrap", () => {
  const c = newWireCounters();
  assert.ok(c.buffer instanceof SharedArrayBuffer);
  c[3] = 0xffff_fff0;
  const r = new WireCounterReader(c);
  assert.equal(r.total(3), 0xffff_fff0);
  c[3] += 0x30; // wraps to 0x20
  assert.equal(c[3], 0x20);
  assert.equal(r.total(3), 0xffff_fff0 + 0x30);
  c[3] += 5;
  assert.equal(r.total(3), 2 ** 32 + 0x25);
});

Deno.test("routeOf: every route Arca serves, and a fixed label for the rest", () => {
  const h = "0".repeat(32);
  for (
    const [method, path, want] of [
      ["GET", `/${h}.narinfo`, "narinfo"],
      ["HEAD", `/${h}.narinfo`, "narinfo"],
      ["PUT", `/${h}.narinfo`, "upload"],
      ["PUT", `/nar/${"1".repeat(52)}.nar.zst`, "upload"],
      ["GET", `/nar/${"1".repeat(52)}.nar.zst`, "nar"],
      ["GET", "/nix-cache-info", "nix_cache_info"],
      ["GET", "/log/x.drv", "log"],
      ["GET", `/${h}.ls`, "listing"],
      ["GET", "/realisations/sha256:1!out.doi", "realisation"],
      ["DELETE", "/gcroots/ci", "gcroots"],
      ["PUT", "/gcroots/ci", "gcroots"],
      ["GET", "/health", "health"],
      ["GET", "/", "status"],
      ["GET", "/status.json", "status"],
      ["GET", "/metrics", "metrics"],
      ["GET", "/wp-login.php", "other"],
    ]
  ) assert.equal(routeOf(method, path), want, `${method} ${path}`);
});

const TOKEN = "metrics-upload-token";

async function servedCache(httpIo: string) {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const tokenFile = `${tmp.path}/tokens`;
  await Deno.writeTextFile(tokenFile, `# upload tokens\n${TOKEN}\n`, { mode: 0o600 });
  const env = {
    ...arcaEnv(nix, tmp.path),
    ARCA_HTTP_IO: httpIo,
    ARCA_UPLOAD_TOKENS_FILE: tokenFile,
  };
  const key = await makeKey(tmp.path, `metrics-${httpIo}-1`, env);
  const salt = crypto.randomUUID();
  // Big enough that a NAR's body outweighs any head (the byte count must include it).
  const a = await buildPath("arca-metrics-a", "head -c 100000 /dev/urandom > $out", nix, { salt });
  const b = await buildPath("arca-metrics-b", "echo $a > $out", nix, { salt, deps: { a } });
  await runOk(Deno.execPath(), ["--version"]);
  const imp = await arca(["import", "--signing-key", key.secret, a, b], { env });
  assert.equal(imp.code, 0, imp.stderr);
  return { tmp, env, paths: [a, b] };
}

async function scrape(url: string, init?: RequestInit): Promise<string> {
  const r = await fetch(`${url}/metrics`, init);
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.equal(r.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return text;
}

for (const httpIo of ["epoll", "portable"]) {
  Deno.test(`serve (${httpIo}): /metrics counts what was served, uploaded and run`, async () => {
    const { tmp, env, paths } = await servedCache(httpIo);
    const gc = await arca(["gc"], { env });
    assert.equal(gc.code, 0, gc.stderr);
    const server = await startServer([], env);
    try {
      const hash = (p: string) => p.slice("/nix/store/".length, "/nix/store/".length + 32);
      // Keep-alive connections: after the first request, heads repeat (the quickest path).
      for (let i = 0; i < 3; i++) {
        for (const p of paths) {
          assert.equal((await fetch(`${server.url}/${hash(p)}.narinfo`)).status, 200);
        }
      }
      const head = await fetch(`${server.url}/${hash(paths[0])}.narinfo`, { method: "HEAD" });
      await head.body?.cancel();
      assert.equal(head.status, 200);
      for (const miss of ["0".repeat(32), "1".repeat(32)]) {
        const r = await fetch(`${server.url}/${miss}.narinfo`);
        await r.body?.cancel();
        assert.equal(r.status, 404);
      }
      assert.equal((await (await fetch(`${server.url}/nix-cache-info`)).text()).length > 0, true);
      const info = await (await fetch(`${server.url}/${hash(paths[0])}.narinfo`)).text();
      const narUrl = /^URL: (.*)$/m.exec(info)![1];
      const fileSize = Number(/^FileSize: (\d+)$/m.exec(info)![1]);
      const nar = await fetch(`${server.url}/${narUrl}`);
      assert.equal((await nar.arrayBuffer()).byteLength, fileSize);

      assert.equal((await put(server.url, `/${"2".repeat(32)}.narinfo`, "x", "wrong")).status, 401);
      assert.equal((await put(server.url, `/${"3".repeat(32)}.narinfo`, "x", "wrong")).status, 401);
      const bad = await put(server.url, `/nar/${"0".repeat(52)}.nar`, "not a nar", TOKEN);
      assert.equal(bad.status, 400, bad.text);

      const text = await scrape(server.url);
      assert.equal(await promtool(text), "");
      const m = samples(text);
      const want: [string, number][] = [
        ['arca_narinfo_requests_total{result="hit"}', 3 * 2 + 1 + 1],
        ['arca_narinfo_requests_total{result="miss"}', 2],
        ['arca_http_requests_total{route="narinfo",status="200"}', 3 * 2 + 1 + 1],
        ['arca_http_requests_total{route="narinfo",status="404"}', 2],
        ['arca_http_requests_total{route="nix_cache_info",status="200"}', 1],
        ['arca_http_requests_total{route="nar",status="200"}', 1],
        ['arca_http_requests_total{route="upload",status="401"}', 2],
        ['arca_http_requests_total{route="upload",status="400"}', 1],
        ['arca_upload_refusals_total{reason="unauthorized"}', 2],
        ['arca_upload_refusals_total{reason="bad-request"}', 1],
        ["arca_store_paths", 2],
        ["arca_index_paths", 2],
        ["arca_import_duration_seconds_count", 1],
        ["arca_import_imported_paths_total", 2],
        ["arca_gc_duration_seconds_count", 1],
        ["arca_gc_removed_paths_total", 0],
      ];
      for (const [k, v] of want) assert.equal(m.get(k), v, `${k} in\n${text}`);
      // The NAR's bytes went out through sendfile (epoll) or the copy loop: both counted.
      const narBytes = m.get('arca_http_response_bytes_total{route="nar"}')!;
      assert.ok(narBytes > fileSize && narBytes < fileSize + 1024, `nar bytes ${narBytes}`);
      const infoBytes = m.get('arca_http_response_bytes_total{route="narinfo"}')!;
      assert.ok(infoBytes > 10 * 100, `narinfo bytes ${infoBytes}`);
      assert.ok(m.get("arca_import_duration_seconds_sum")! > 0);
      assert.ok(m.get("arca_gc_last_end_timestamp_seconds")! > Date.now() / 1000 - 600);
      assert.ok((m.get("arca_store_dedup_ratio") ?? 0) > 0);
      assert.equal(m.get(`arca_build_info{version="0.1.0",backend="kv",http_io="${httpIo}"}`), 1);
    } finally {
      await server.stop();
      await tmp.cleanup();
    }
  });
}

Deno.test("serve: metrics_token and read_token decide who may scrape and see the page", async () => {
  const tmp = await tempDir();
  const env = {
    ...arcaEnv({}, tmp.path),
    ARCA_READ_TOKEN: "reader-token",
    ARCA_METRICS_TOKEN: "scraper-token",
  };
  const server = await startServer([], env);
  const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
  const basic = (t: string) => ({ headers: { authorization: `Basic ${btoa(`any:${t}`)}` } });
  try {
    for (
      const [path, init, status] of [
        ["/metrics", undefined, 401],
        ["/metrics", bearer("reader-token"), 401],
        ["/metrics", bearer("scraper-token"), 200],
        ["/metrics", basic("scraper-token"), 200],
        ["/", undefined, 401],
        ["/status.json", undefined, 401],
        ["/", bearer("scraper-token"), 401],
        ["/", basic("reader-token"), 200],
        ["/status.json", bearer("reader-token"), 200],
      ] as [string, RequestInit | undefined, number][]
    ) {
      const r = await fetch(`${server.url}${path}`, init);
      const body = await r.text();
      assert.equal(r.status, status, `${path} ${JSON.stringify(init)}: ${body}`);
      if (status === 401) {
        assert.equal(r.headers.get("www-authenticate"), 'Basic realm="arca"');
        assert.doesNotMatch(body, /paths|arca_|narinfo/);
      }
    }
  } finally {
    await server.stop();
  }
  // Without metrics_token, scraping a private cache needs the read token.
  const open = await startServer([], { ...env, ARCA_METRICS_TOKEN: "" });
  try {
    assert.equal((await fetch(`${open.url}/metrics`)).status, 401);
    await scrape(open.url, bearer("reader-token"));
  } finally {
    await open.stop();
    await tmp.cleanup();
  }
});
