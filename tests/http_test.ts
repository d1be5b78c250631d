/**
 * HTTP behaviour of a real `arca serve` (kv backend) over loopback, after
 * `arca import-closure` of a small closure plus one path holding a 12 MB
 * random file (above the handler's 8 MiB "verify first" threshold):
 * nix-cache-info, narinfo GET/HEAD, NAR headers and bytes (zstd and xz),
 * Range, ETag/304, 404s for every malformed or hostile name (sent raw over a
 * socket, since fetch() would normalise `..`), 405 for other methods and 403 for uploads when no upload token is configured, /health,
 * damaged packs taken out of service instead of served, and 50 concurrent
 * downloads.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { formatHash, parseHash } from "../lib/hash/mod.ts";
import { type NarInfo, parseNarinfo } from "../lib/narinfo/mod.ts";
import { decodeManifest } from "../lib/store/manifest.ts";
import { arca, nixEnv, tempDir } from "./_run.ts";
import { type Server, startServer } from "./_serve.ts";
import { arcaEnv, buildClosure, makeKey, narHashes } from "./_cache_fixture.ts";

const BIG = 12_000_000;
const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(b).digest());
}

function sha256Nix(b: Uint8Array): string {
  return formatHash({ algo: "sha256", digest: sha256(b) });
}

/** Pipes bytes through a program (the reference `zstd`/`xz` decoders) and returns its output. */
async function filter(cmd: string, args: string[], input: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped" }).spawn();
  const writing = (async () => {
    const w = child.stdin.getWriter();
    await w.write(input);
    await w.close();
  })();
  const out = await child.output();
  await writing;
  assert.equal(out.code, 0, `${cmd} ${args.join(" ")} failed`);
  return out.stdout;
}

async function get(url: string, init?: RequestInit) {
  const res = await fetch(url, init);
  const body = new Uint8Array(await res.arrayBuffer());
  return { res, body };
}

async function narinfoOf(server: Server, storePath: string): Promise<NarInfo> {
  const hashPart = storePath.slice("/nix/store/".length, "/nix/store/".length + 32);
  const { res, body } = await get(`${server.url}/${hashPart}.narinfo`);
  assert.equal(res.status, 200, `narinfo of ${storePath}`);
  return parseNarinfo(new TextDecoder().decode(body));
}

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Uint8Array;
}

/**
 * Requests written by hand on one connection, so that paths reach the
 * server exactly as given (no `..` or `%2e` normalisation). Pipelined and
 * kept alive unless `close`, when each goes on a connection of its own with
 * `Connection: close` (the server's full path; kept-alive GET and HEAD
 * requests take its quick path).
 */
async function rawRequests(
  base: string,
  requests: [method: string, path: string][],
  close: boolean,
): Promise<RawResponse[]> {
  if (close) {
    const out: RawResponse[] = [];
    for (const r of requests) out.push(...await exchange(base, [r], "Connection: close\r\n"));
    return out;
  }
  return await exchange(base, requests, "");
}

async function exchange(
  base: string,
  requests: [method: string, path: string][],
  fields: string,
): Promise<RawResponse[]> {
  const u = new URL(base);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  try {
    const text = requests.map(([m, p]) => `${m} ${p} HTTP/1.1\r\nHost: ${u.host}\r\n${fields}\r\n`);
    await conn.write(new TextEncoder().encode(text.join("")));
    const out: RawResponse[] = [];
    let got = new Uint8Array();
    const buf = new Uint8Array(65536);
    const deadline = Date.now() + 10_000;
    while (out.length < requests.length && Date.now() < deadline) {
      const n = await conn.read(buf);
      if (n === null) break;
      const more = new Uint8Array(got.length + n);
      more.set(got);
      more.set(buf.subarray(0, n), got.length);
      got = more;
      // Take every whole response now in `got`.
      for (;;) {
        const end = got.findIndex((_, i) =>
          got[i] === 13 && got[i + 1] === 10 && got[i + 2] === 13 && got[i + 3] === 10
        );
        if (end < 0) break;
        const [statusLine, ...lines] = new TextDecoder().decode(got.subarray(0, end)).split("\r\n");
        const headers = new Map(
          lines.map((
            l,
          ) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
        );
        const bodyless = requests[out.length][0] === "HEAD";
        const length = bodyless ? 0 : Number(headers.get("content-length") ?? 0);
        if (got.length < end + 4 + length) break;
        out.push({
          status: Number(statusLine.split(" ")[1]),
          headers,
          body: got.slice(end + 4, end + 4 + length),
        });
        got = got.slice(end + 4 + length);
      }
    }
    assert.equal(out.length, requests.length, `answers to ${requests.map((r) => r.join(" "))}`);
    return out;
  } finally {
    conn.close();
  }
}

/** One request on its own connection (`Connection: close`): status and headers. */
async function rawRequest(base: string, method: string, path: string): Promise<RawResponse> {
  return (await rawRequests(base, [[method, path]], true))[0];
}

function pathNamed(paths: string[], name: string): string {
  const p = paths.find((x) => x.endsWith(`-${name}`));
  assert.ok(p, `closure has ${name}`);
  return p;
}

// Both HTTP drivers (the epoll front on its thread, Deno's sockets) serve the same.
for (const io of ["epoll", "portable"]) {
  Deno.test(`[${io}] arca serve speaks HTTP the way Nix and caches expect`, (t) =>
    speaksHttp(t, io));
}

async function speaksHttp(t: Deno.TestContext, io: string): Promise<void> {
  const tmp = await tempDir("arca-http-");
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_BACKEND: "kv", ARCA_HTTP_IO: io };
  const xzEnv = {
    ...arcaEnv(nix, tmp.path, `${tmp.path}/cache-xz`),
    ARCA_BACKEND: "kv",
    ARCA_HTTP_IO: io,
  };
  const servers: Server[] = [];
  try {
    const key = await makeKey(tmp.path, "arca-http-test", env);
    const closure = await buildClosure(nix, BIG);
    const small = pathNamed(closure.paths, "arca-lib");
    const big = pathNamed(closure.paths, "arca-data");
    // Nix prints SRI; compare in one spelling.
    const localHashes = new Map(
      [...await narHashes(closure.top, nix)].map(([p, h]) => [p, formatHash(parseHash(h))]),
    );

    const imp = await arca(
      ["import-closure", "--signing-key", key.secret, "--compression", "zstd", closure.top],
      { env },
    );
    assert.equal(imp.code, 0, imp.stderr);
    const impXz = await arca(["import-closure", "--compression", "xz", small], { env: xzEnv });
    assert.equal(impXz.code, 0, impXz.stderr);

    let server = await startServer([], env);
    servers.push(server);
    const xzServer = await startServer([], xzEnv);
    servers.push(xzServer);

    await t.step("nix-cache-info", async () => {
      const { res, body } = await get(`${server.url}/nix-cache-info`);
      assert.equal(res.status, 200);
      const lines = new TextDecoder().decode(body).trim().split("\n").sort();
      assert.deepEqual(lines, ["Priority: 40", "StoreDir: /nix/store", "WantMassQuery: 1"]);
      const prio = await startServer(["--priority", "30"], xzEnv);
      try {
        const other = await get(`${prio.url}/nix-cache-info`);
        const lines = new TextDecoder().decode(other.body).trim().split("\n").sort();
        assert.deepEqual(lines, ["Priority: 30", "StoreDir: /nix/store", "WantMassQuery: 1"]);
      } finally {
        await prio.stop();
      }
    });

    const smallInfo = await narinfoOf(server, small);
    const bigInfo = await narinfoOf(server, big);

    await t.step("narinfo GET and HEAD", async () => {
      const url = `${server.url}/${small.slice(11, 43)}.narinfo`;
      const g = await get(url);
      assert.equal(g.res.status, 200);
      assert.equal(g.res.headers.get("content-type"), "text/x-nix-narinfo");
      assert.equal(g.res.headers.get("content-length"), String(g.body.length));
      const h = await get(url, { method: "HEAD" });
      assert.equal(h.res.status, 200);
      assert.equal(h.body.length, 0);
      assert.equal(h.res.headers.get("content-type"), "text/x-nix-narinfo");
      assert.equal(h.res.headers.get("content-length"), String(g.body.length));
      const info = parseNarinfo(new TextDecoder().decode(g.body));
      assert.equal(info.storePath, small);
      assert.equal(formatHash(info.narHash), localHashes.get(small));
      assert.equal(info.compression, "zstd");
      assert.ok(info.sigs.some((s) => s.startsWith("arca-http-test:")));
      const nar = await get(`${server.url}/${info.url}`);
      assert.equal(nar.res.status, 200);
      assert.equal(nar.body.length, info.fileSize);
    });

    let bigBody = new Uint8Array();
    let etag = "";
    await t.step("NAR GET: headers, FileHash, NarHash (zstd)", async () => {
      for (const [p, info] of [[small, smallInfo], [big, bigInfo]] as const) {
        const { res, body } = await get(`${server.url}/${info.url}`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-type"), "application/zstd");
        assert.equal(res.headers.get("content-length"), String(info.fileSize));
        assert.equal(body.length, info.fileSize);
        assert.equal(res.headers.get("accept-ranges"), "bytes");
        assert.ok(res.headers.get("etag"), "has an ETag");
        assert.match(res.headers.get("cache-control") ?? "", /immutable/);
        assert.equal(sha256Nix(body), formatHash(info.fileHash!));
        const nar = await filter("zstd", ["-dc"], body);
        assert.equal(nar.length, info.narSize);
        assert.equal(sha256Nix(nar), formatHash(info.narHash));
        assert.equal(sha256Nix(nar), localHashes.get(p));
        if (p === big) {
          bigBody = body;
          etag = res.headers.get("etag")!;
        }
      }
      assert.ok(bigInfo.narSize > BIG);
    });

    await t.step("NAR GET: xz", async () => {
      const info = await narinfoOf(xzServer, small);
      assert.equal(info.compression, "xz");
      assert.match(info.url, /\.nar\.xz$/);
      const { res, body } = await get(`${xzServer.url}/${info.url}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/x-xz");
      assert.equal(res.headers.get("content-length"), String(info.fileSize));
      assert.equal(sha256Nix(body), formatHash(info.fileHash!));
      const nar = await filter("xz", ["-dc"], body);
      assert.equal(sha256Nix(nar), localHashes.get(small));
    });

    await t.step("Range requests", async () => {
      const url = `${server.url}/${bigInfo.url}`;
      const size = bigBody.length;
      const cases: [string, number, number][] = [
        ["bytes=0-99", 0, 100],
        ["bytes=-10", size - 10, size],
        ["bytes=100-", 100, size],
        ["bytes=70000-300000", 70000, 300001],
        [`bytes=${size - 5}-${size + 1000}`, size - 5, size],
      ];
      for (const [range, start, end] of cases) {
        const { res, body } = await get(url, { headers: { range } });
        assert.equal(res.status, 206, range);
        assert.equal(res.headers.get("content-range"), `bytes ${start}-${end - 1}/${size}`, range);
        assert.equal(res.headers.get("content-length"), String(end - start), range);
        assert.equal(body.length, end - start, range);
        assert.ok(body.every((b, i) => b === bigBody[start + i]), `${range}: the exact slice`);
      }
      for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`]) {
        const r416 = await get(url, { headers: { range } });
        assert.equal(r416.res.status, 416, range);
        assert.equal(r416.res.headers.get("content-range"), `bytes */${size}`);
      }
      for (const range of ["bytes=abc", "items=0-9", "bytes=5-1x", "bytes=0-1,5-9"]) {
        const { res, body } = await get(url, { headers: { range } });
        assert.equal(res.status, 200, range);
        assert.equal(body.length, size, range);
      }
    });

    await t.step("If-None-Match answers 304 without a body", async () => {
      const url = `${server.url}/${bigInfo.url}`;
      const { res, body } = await get(url, { headers: { "if-none-match": etag } });
      assert.equal(res.status, 304);
      assert.equal(body.length, 0);
      assert.equal(res.headers.get("etag"), etag);
      const other = await get(url, { headers: { "if-none-match": '"something-else"' } });
      assert.equal(other.res.status, 200);
      assert.equal(other.body.length, bigBody.length);
    });

    await t.step(
      "404 for unknown, malformed and hostile names; 405 or 403 for writes",
      async () => {
        const good = small.slice(11, 43);
        const fh = bigInfo.url.slice(4, 56);
        const swap = (s: string, i: number, c: string) => s.slice(0, i) + c + s.slice(i + 1);
        const unknown = [...good].map((c) => NIX32[(NIX32.indexOf(c) + 1) % 32]).join("");
        const paths = [
          `/${unknown}.narinfo`,
          `/${good.slice(1)}.narinfo`,
          `/${good}0.narinfo`,
          ...["e", "o", "u", "t", "A"].map((c) => `/${swap(good, 5, c)}.narinfo`),
          `/${good.toUpperCase()}.narinfo`,
          `/${good}.narinfo/`,
          `/${good}.NARINFO`,
          "/nar/../db",
          "/%2e%2e/db",
          "/nar/%2e%2e/db",
          "/../db",
          "/db",
          "/packs",
          `/nar/${fh}.nar.gz`,
          `/nar/${fh}.nar.xz`,
          `/nar/${fh}.nar`,
          `/nar/${swap(fh, 3, "e")}.nar.zst`,
          `/nar/${fh.toUpperCase()}.nar.zst`,
          `/nar/${fh}.nar.zst/..`,
          `/nar/`,
          "/log/../../etc/passwd",
          "/log/%2e%2e/%2e%2e/etc/passwd",
          `/log/${good}-x.drv`,
          "/etc/passwd",
          "/nix-cache-info/x",
          "/healthz",
          `/${crypto.randomUUID()}`,
        ];
        for (const p of paths) {
          const r = await rawRequest(server.url, "GET", p);
          assert.equal(r.status, 404, p);
          assert.equal(r.headers.get("cache-control"), "no-store", p);
        }
        for (const method of ["POST", "PUT", "DELETE"]) {
          for (const p of [`/${good}.narinfo`, `/${bigInfo.url}`]) {
            const { res } = await get(`${server.url}${p}`, { method, body: "x" });
            assert.equal(res.status, method === "PUT" ? 403 : 405, `${method} ${p}`);
          }
        }
        // The narinfo is still there, untouched by the PUT.
        assert.equal((await narinfoOf(server, small)).storePath, small);
      },
    );

    await t.step(
      "kept-alive requests (the quick path) get the answers the full path gives",
      async () => {
        const good = small.slice(11, 43);
        const unknown = [...good].map((c) => NIX32[(NIX32.indexOf(c) + 1) % 32]).join("");
        const targets = [
          `/${good}.narinfo`,
          `/${big.slice(11, 43)}.narinfo`,
          `/${unknown}.narinfo`,
          `/${good.toUpperCase()}.narinfo`,
          `/${good.slice(0, 31)}e.narinfo`,
          `/${good}.narinfx`,
          `/${good}.narinfo?x=1`,
          `/${good}.narinfo/`,
          `/${good.slice(1)}.narinfo`,
          "/nix-cache-info",
          "/nix-cache-infx",
          `/${bigInfo.url}`,
        ];
        const requests = targets.flatMap((p) => [["GET", p], ["HEAD", p]] as [string, string][]);
        const full = await rawRequests(server.url, requests, true);
        // Twice on one connection: the first head is parsed whole, the repeats are not.
        const kept = await rawRequests(server.url, [...requests, ...requests], false);
        const fields = ["content-type", "content-length", "cache-control"];
        for (let i = 0; i < kept.length; i++) {
          const want = full[i % requests.length];
          const what = requests[i % requests.length].join(" ");
          assert.equal(kept[i].status, want.status, what);
          for (const f of fields) {
            assert.equal(kept[i].headers.get(f), want.headers.get(f), `${what}: ${f}`);
          }
          assert.deepEqual(kept[i].body, want.body, what);
        }
        assert.deepEqual(
          full.slice(0, 4).map((r) => r.status),
          [200, 200, 200, 200],
        );
      },
    );

    await t.step("/health", async () => {
      const { res, body } = await get(`${server.url}/health`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /json/);
      const h = JSON.parse(new TextDecoder().decode(body));
      assert.equal(h.status, "ok");
      assert.equal(h.paths, closure.paths.length);
    });

    await t.step("50 concurrent downloads of the big NAR", async () => {
      const t0 = performance.now();
      const want = formatHash(bigInfo.fileHash!);
      const got = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const res = await fetch(`${server.url}/${bigInfo.url}`, {
            signal: AbortSignal.timeout(30_000),
          });
          assert.equal(res.status, 200);
          const h = createHash("sha256");
          let n = 0;
          for await (const piece of res.body!) {
            h.update(piece);
            n += piece.length;
          }
          return { n, hash: formatHash({ algo: "sha256", digest: new Uint8Array(h.digest()) }) };
        }),
      );
      for (const g of got) {
        assert.equal(g.n, bigBody.length);
        assert.equal(g.hash, want);
      }
      const secs = (performance.now() - t0) / 1000;
      console.log(
        `50 × ${bigBody.length} bytes in ${secs.toFixed(2)} s ` +
          `(${(50 * bigBody.length / secs / 1e6).toFixed(0)} MB/s)`,
      );
    });

    await t.step("a damaged pack is taken out of service, never served", async () => {
      await server.stop();
      servers.splice(servers.indexOf(server), 1);
      // Flip bytes in the middle of every chunk of the small path's NAR.
      const fh32 = smallInfo.url.slice(4, 56);
      const m = decodeManifest(await Deno.readFile(`${env.ARCA_DIR}/manifests/${fh32}.bin`));
      assert.ok(m.chunks.length > 0);
      for (const c of m.chunks) {
        const f = await Deno.open(`${env.ARCA_DIR}/packs/${c.pack}.pack`, {
          read: true,
          write: true,
        });
        const at = c.offset + Math.floor(c.clen / 2);
        const b = new Uint8Array(4);
        await f.seek(at, Deno.SeekMode.Start);
        await f.read(b);
        await f.seek(at, Deno.SeekMode.Start);
        await f.write(b.map((x) => x ^ 0xff));
        f.close();
      }
      server = await startServer([], env);
      servers.push(server);
      const nar = await get(`${server.url}/${smallInfo.url}`);
      assert.notEqual(nar.res.status, 200, "a damaged NAR is never served");
      assert.equal(nar.res.status, 404);
      const ni = await get(`${server.url}/${small.slice(11, 43)}.narinfo`);
      assert.equal(ni.res.status, 404, "the narinfo is out of service at once");
      const again = await get(`${server.url}/${smallInfo.url}`);
      assert.equal(again.res.status, 404);
      const audit = await arca(["audit", "--json"], { env });
      assert.equal(audit.code, 0, audit.stderr);
      const events = audit.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.ok(
        events.some((e) => e.type === "Quarantine" && e.path === small),
        `a Quarantine event for ${small}: ${audit.stdout}`,
      );
      // Other paths are untouched.
      assert.equal((await narinfoOf(server, big)).storePath, big);
    });

    await t.step("a truncated pack gives 404, never a short 200", async () => {
      const url = `${server.url}/${bigInfo.url}`;
      // Served once (checked and trusted), then the pack shrinks under the running server.
      const ok = await get(url);
      assert.equal(ok.res.status, 200);
      assert.equal(ok.body.length, bigBody.length);
      const fh32 = bigInfo.url.slice(4, 56);
      const m = decodeManifest(await Deno.readFile(`${env.ARCA_DIR}/manifests/${fh32}.bin`));
      const packs = new Set(m.chunks.map((c) => c.pack));
      for (const p of packs) {
        const file = `${env.ARCA_DIR}/packs/${p}.pack`;
        await Deno.truncate(file, Math.floor((await Deno.stat(file)).size / 2));
      }
      let status = 0;
      let length = -1;
      try {
        const r = await get(url);
        status = r.res.status;
        length = r.body.length;
      } catch {
        // A broken-off transfer also counts as a failure here: it is the short 200.
        status = -1;
      }
      assert.equal(status, 404, `got ${status} with ${length} bytes`);
      const ni = await get(`${server.url}/${big.slice(11, 43)}.narinfo`);
      assert.equal(ni.res.status, 404, "the narinfo is out of service at once");
      const audit = await arca(["audit", "--json"], { env });
      assert.match(audit.stdout, new RegExp(`"type":"Quarantine".*"path":"${big}"`));
    });
  } finally {
    for (const s of servers) await s.stop();
    await tmp.cleanup();
  }
}
