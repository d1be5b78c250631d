/**
 * Arca's HTTP/1.1 server on a real loopback socket, driven byte by byte with
 * raw TCP (keep-alive, pipelining, framing, errors, limits, shutdown) and
 * with fetch. The substituter on top of it is tested in http_test.ts and the
 * Nix end-to-end tests.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { concatBytes } from "../lib/encoding/mod.ts";
import { type HttpApp, type HttpIo, serveHttp } from "../lib/server/http_server.ts";
import { reply } from "../lib/server/app.ts";
import { type FollowableIndex, IndexEntry, SharedBytes } from "../lib/server/index_entry.ts";
import { HashPartMap } from "../lib/store_path/mod.ts";
import { FileBody } from "../lib/blob/file_body.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A narinfo index in memory, as `serve` keeps one, that a test can change. */
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
  onLive() {
    // Live from the start.
  }
  put(hashPart: string, text: string) {
    const e = new IndexEntry(hashPart, this.#bytes.copy(enc.encode(text)));
    this.#map.set(hashPart, e);
    for (const fn of this.#listeners) fn(hashPart, e);
  }
  drop(hashPart: string) {
    this.#map.delete(hashPart);
    for (const fn of this.#listeners) fn(hashPart, undefined);
  }
}

/** The hash part the test index holds ("quick"); QUICK is its narinfo URL. */
const HASH = "0123456789abcdfghijklmnpqrsvwxyz";
const QUICK = `/${HASH}.narinfo`;
const accessed: string[] = [];

function makeIndex(): TestIndex {
  const index = new TestIndex();
  index.put(HASH, "quick");
  return index;
}

/** A test app: /echo returns what it read; /stream streams; QUICK is answered from memory. */
const app = (index: TestIndex): HttpApp => ({
  quick: {
    index,
    cacheInfo: enc.encode("StoreDir: /nix/store\n"),
    onAccess: (h) => accessed.push(h),
  },
  handle: async (req) => {
    const url = new URL(req.url);
    switch (url.pathname) {
      case "/echo": {
        const body = new Uint8Array(await new Response(req.body).arrayBuffer());
        const sum = createHash("sha256").update(body).digest("hex");
        return new Response(`${req.method} ${body.length} ${sum}`, {
          headers: { "x-host": url.host },
        });
      }
      case "/ignore-body":
        return new Response("refused\n", { status: 401 });
      case "/stream":
        return new Response(
          new ReadableStream({
            start(c) {
              for (let i = 0; i < 3; i++) c.enqueue(enc.encode(`part${i};`));
              c.close();
            },
          }),
        );
      case "/bytes": {
        // A byte stream of a known length, served through the BYOB path.
        const n = Number(url.searchParams.get("n"));
        let sent = 0;
        return new Response(
          new ReadableStream({
            type: "bytes",
            pull(c) {
              const v = c.byobRequest!.view!;
              const k = Math.min(v.byteLength, n - sent, 100_000);
              const u = new Uint8Array(v.buffer, v.byteOffset, k);
              for (let i = 0; i < k; i++) u[i] = (sent + i) % 251;
              sent += k;
              c.byobRequest!.respond(k);
              if (sent === n) c.close();
            },
            autoAllocateChunkSize: 65536,
          }),
          { headers: { "content-length": String(n) } },
        );
      }
      case "/short": {
        // Declares 100 bytes, delivers 10, then fails: the client must see a cut transfer.
        let pulls = 0;
        return new Response(
          new ReadableStream({
            pull(c) {
              if (pulls++ === 0) c.enqueue(enc.encode("0123456789"));
              else c.error(new Error("disk went away"));
            },
          }),
          { headers: { "content-length": "100" } },
        );
      }
      case "/broken":
        // Fails before its first byte: nothing was sent, so a 500 can still be.
        return new Response(
          new ReadableStream({
            pull(c) {
              c.error(new Error("disk went away"));
            },
          }),
          { headers: { "content-length": "100" } },
        );
      case "/slow":
        await new Promise((r) => setTimeout(r, 500));
        return new Response("slow done");
      case "/throw":
        throw new Error("secret internals");
      case "/reply":
        return reply(
          201,
          [["x-kind", "reply"], ["content-type", "text/plain"]],
          enc.encode("light"),
        );
      case "/file": {
        // Two parts of one file, then a part of another: sent with sendfile by the epoll front.
        const a = patternFile(300_000), b = patternFile(1000);
        const body = new FileBody([
          { path: a, offset: 7, length: 100_000 },
          { path: a, offset: 150_000, length: 150_000 },
          { path: b, offset: 0, length: 1000 },
        ], report);
        // Unlinked before the response starts (gc): the open files still serve it.
        if (url.searchParams.has("gone")) Deno.removeSync(a);
        return reply(200, [["content-type", "application/octet-stream"]], body);
      }
      case "/file-short": {
        // A file shorter than its part: damage found while sending.
        const a = patternFile(50_000);
        const body = new FileBody([{ path: a, offset: 0, length: 80_000 }], report);
        Deno.truncateSync(a, 20_000);
        return reply(200, [], body);
      }
      case "/bad-reply":
        return reply(200, [["x-split", "a\r\nset-cookie: injected"]], enc.encode("no"));
      default:
        return new Response("nope\n", { status: 404 });
    }
  },
});

/** Files made by the /file routes, removed after each test. */
const made: string[] = [];
/** What file bodies reported as short. */
const shorts: string[] = [];
const report = (msg: string) => {
  shorts.push(msg);
  return Promise.resolve();
};

function patternFile(n: number): string {
  const path = Deno.makeTempFileSync({ prefix: "arca-http-test-" });
  made.push(path);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (n & 255)) % 253;
  Deno.writeFileSync(path, b);
  return path;
}

function pattern(n: number, from: number, to: number): Uint8Array {
  const b = new Uint8Array(to - from);
  for (let i = from; i < to; i++) b[i - from] = (i * 7 + (n & 255)) % 253;
  return b;
}

/** Both drivers must behave the same: every test runs against each. */
const DRIVERS: HttpIo[] = ["portable", "epoll"];
let io: HttpIo = "portable";

function test(name: string, fn: () => Promise<void>): void {
  for (const d of DRIVERS) {
    Deno.test(`[${d}] ${name}`, () => {
      io = d;
      return fn();
    });
  }
}

async function withServer(
  fn: (port: number, stop: () => Promise<void>, index: TestIndex) => Promise<void>,
  limits = {},
): Promise<void> {
  const index = makeIndex();
  const server = serveHttp({ hostname: "127.0.0.1", port: 0, limits, io }, app(index));
  assert.equal(server.io, io);
  try {
    await fn(server.addr.port, () => server.shutdown(), index);
  } finally {
    await server.shutdown();
    await server.finished;
    for (const f of made.splice(0)) Deno.remove(f).catch(() => {});
  }
}

/** Sends `text` and reads until the server closes (or `ms` passes). */
async function exchange(port: number, text: string | Uint8Array, ms = 5000): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => c.close(), ms);
  try {
    await c.write(typeof text === "string" ? enc.encode(text) : text);
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) break;
      parts.push(buf.slice(0, n));
    }
    return parts.map((p) => dec.decode(p)).join("");
  } finally {
    clearTimeout(timer);
    try {
      c.close();
    } catch { /* closed by the timer */ }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const statuses = (t: string) => [...t.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

test("keep-alive and pipelined requests are answered in order on one connection", async () => {
  await withServer(async (port) => {
    const t = await exchange(
      port,
      `GET ${QUICK} HTTP/1.1\r\nhost: a\r\n\r\n` +
        "PUT /echo HTTP/1.1\r\nhost: cache.example:81\r\ncontent-length: 3\r\n\r\nabc" +
        "\r\nGET /stream HTTP/1.1\r\nhost: a\r\n\r\n" +
        `GET ${QUICK} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`,
    );
    // The last one asks to close: it goes through the app (quick answers
    // keep the connection), which has no narinfo route.
    assert.deepEqual(statuses(t), [200, 200, 200, 404]);
    const abc = createHash("sha256").update("abc").digest("hex");
    assert.ok(t.includes(`\r\n\r\nquick`), t);
    assert.ok(t.includes(`PUT 3 ${abc}`), t);
    assert.match(t, /x-host: cache\.example:81/);
    // A body of unknown length in more than one piece is chunked.
    assert.match(
      t,
      /transfer-encoding: chunked\r\n\r\n6\r\npart0;\r\n6\r\npart1;\r\n6\r\npart2;\r\n0\r\n\r\n/,
    );
    assert.match(t, /connection: close\r\n/);
    assert.match(t, /date: \w{3}, \d\d \w{3} \d{4} /);
  });
});

test("a request arriving a byte at a time is read whole", async () => {
  await withServer(async (port) => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    const req =
      "PUT /echo HTTP/1.1\r\nhost: a\r\ncontent-length: 4\r\nconnection: close\r\n\r\nwxyz";
    for (const ch of req) await c.write(enc.encode(ch));
    const got = dec.decode(await new Response(c.readable).arrayBuffer());
    assert.match(got, /^HTTP\/1\.1 200 OK/);
    assert.ok(got.includes(`PUT 4 ${createHash("sha256").update("wxyz").digest("hex")}`));
  });
});

test("malformed, oversized and unsupported requests get an error and a closed connection", async () => {
  await withServer(async (port) => {
    for (
      const [req, status] of [
        ["GET / HTTP/1.1\r\n\r\n", 400],
        [
          "GET / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n",
          400,
        ],
        ["GET / HTTP/3.0\r\nhost: a\r\n\r\n", 505],
        ["GET / HTTP/1.1\r\nhost: a\r\nx: " + "y".repeat(40_000) + "\r\n\r\n", 431],
        [`BAD\r\n\r\nGET ${QUICK} HTTP/1.1\r\nhost: a\r\n\r\n`, 400],
      ] as [string, number][]
    ) {
      const t = await exchange(port, req);
      // One answer only: nothing after a broken request is taken as a request.
      assert.deepEqual(statuses(t), [status], `${req.slice(0, 40)}: ${t}`);
      assert.match(t, /connection: close/);
    }
    const t = await exchange(port, "GET /throw HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
    assert.deepEqual(statuses(t), [500]);
    assert.ok(!t.includes("secret"), t);
    // A light reply with a line break in a field is never written as it is.
    const bad = await exchange(port, "GET /bad-reply HTTP/1.1\r\nhost: a\r\n\r\n");
    assert.deepEqual(statuses(bad), [500]);
    assert.ok(!bad.includes("injected"), bad);
  });
});

test("light replies: status, fields, a byte body with its length, HEAD without it", async () => {
  await withServer(async (port) => {
    const t = await exchange(
      port,
      "GET /reply HTTP/1.1\r\nhost: a\r\n\r\nHEAD /reply HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    );
    assert.deepEqual(statuses(t), [201, 201]);
    const [get, head] = t.split(/(?=HTTP\/1\.1 )/);
    assert.match(get, /x-kind: reply\r\n/);
    assert.match(get, /content-length: 5\r\n/);
    assert.match(get, /date: /);
    assert.ok(get.endsWith("\r\n\r\nlight"), get);
    assert.match(head, /content-length: 5\r\n/);
    assert.ok(head.endsWith("\r\n\r\n"), head);
  });
});

test("chunked uploads, Expect: 100-continue, and bodies the app does not read", async () => {
  await withServer(async (port) => {
    const body = "hello chunked world";
    const sum = createHash("sha256").update(body).digest("hex");
    const t = await exchange(
      port,
      "PUT /echo HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n" +
        "5\r\nhello\r\ne;ext=1\r\n chunked world\r\n0\r\nx-trailer: 1\r\n\r\n" +
        "GET /stream HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    );
    assert.match(t, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    assert.ok(t.includes(`PUT 19 ${sum}`), t);
    assert.ok(t.endsWith("0\r\n\r\n"), t);

    // Refused without reading: no 100 Continue, and the connection closes
    // rather than reading the unread body as the next request.
    const r = await exchange(
      port,
      "PUT /ignore-body HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\nexpect: 100-continue\r\n\r\n",
    );
    assert.deepEqual(statuses(r), [401]);
    assert.match(r, /connection: close/);
    const g = await exchange(
      port,
      `GET ${QUICK} HTTP/1.1\r\nhost: a\r\ncontent-length: 4\r\n\r\nGET ${QUICK} HTTP/1.1\r\n`,
    );
    assert.deepEqual(statuses(g), [404], g);
  });
});

test("HTTP/1.0: keep-alive only when asked, no chunked coding", async () => {
  await withServer(async (port) => {
    const t = await exchange(port, "GET /stream HTTP/1.0\r\n\r\n");
    assert.match(t, /^HTTP\/1\.1 200 OK/);
    assert.ok(!/transfer-encoding/i.test(t));
    assert.match(t, /connection: close/);
    assert.ok(t.endsWith("part0;part1;part2;"), t);
    const k = await exchange(
      port,
      "GET /missing HTTP/1.0\r\nconnection: keep-alive\r\n\r\nGET /missing HTTP/1.0\r\n\r\n",
    );
    assert.deepEqual(statuses(k), [404, 404]);
    assert.match(k, /connection: keep-alive/);
  });
});

test("HEAD keeps Content-Length and sends no body", async () => {
  await withServer(async (port) => {
    const t = await exchange(
      port,
      "HEAD /bytes?n=1000 HTTP/1.1\r\nhost: a\r\n\r\nHEAD /x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
    );
    assert.deepEqual(statuses(t), [200, 404]);
    assert.ok(t.endsWith("connection: close\r\n\r\n"), t);
    assert.match(t, /content-length: 1000\r\n\r\nHTTP\/1\.1 404 Not Found/);
  });
});

test("byte-stream bodies arrive whole; a body that fails midway is a cut transfer", async () => {
  await withServer(async (port) => {
    const n = 5_000_017;
    const res = await fetch(`http://127.0.0.1:${port}/bytes?n=${n}`);
    const got = new Uint8Array(await res.arrayBuffer());
    assert.equal(got.length, n);
    for (let i = 0; i < n; i += 99_991) assert.equal(got[i], i % 251);

    const t = await exchange(port, "GET /short HTTP/1.1\r\nhost: a\r\n\r\n");
    assert.match(t, /content-length: 100\r\n\r\n0123456789$/);
    await assert.rejects(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/short`);
      await r.arrayBuffer();
    });
    const b = await exchange(port, "GET /broken HTTP/1.1\r\nhost: a\r\n\r\n");
    assert.deepEqual(statuses(b), [500]);
    assert.match(b, /connection: close/);
  });
});

test("idle and slow connections are closed; too many connections get 503", async () => {
  await withServer(async (port) => {
    const t0 = performance.now();
    // Connected but silent: closed after the idle timeout (checked once a second).
    assert.equal(await exchange(port, new Uint8Array(), 8000), "");
    const idle = performance.now() - t0;
    assert.ok(idle > 900 && idle < 4000, `idle connection closed after ${idle} ms`);
    // Half a head, then nothing: closed after the head timeout.
    assert.equal(await exchange(port, "GET / HTTP/1.1\r\nhost", 8000), "");

    const a = await Deno.connect({ hostname: "127.0.0.1", port });
    const b = await Deno.connect({ hostname: "127.0.0.1", port });
    await new Promise((r) => setTimeout(r, 100));
    try {
      const t = await exchange(port, `GET ${QUICK} HTTP/1.1\r\nhost: a\r\n\r\n`);
      assert.deepEqual(statuses(t), [503]);
      assert.match(t, /retry-after: 1/);
    } finally {
      a.close();
      b.close();
    }
  }, { idleTimeoutMs: 1000, headTimeoutMs: 1000, maxConnections: 2 });
});

test("shutdown lets a running response finish and closes idle connections", async () => {
  await withServer(async (port, stop) => {
    const idle = await Deno.connect({ hostname: "127.0.0.1", port });
    const slow = fetch(`http://127.0.0.1:${port}/slow`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 100));
    const stopped = stop();
    assert.equal(await slow, "slow done");
    await stopped;
    assert.equal(await idle.read(new Uint8Array(10)).catch(() => null), null);
    idle.close();
    await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port }));
  });
});

test("file bodies arrive whole, from several parts, also once their file is unlinked", async () => {
  await withServer(async (port) => {
    const want = concatBytes([
      pattern(300_000, 7, 100_007),
      pattern(300_000, 150_000, 300_000),
      pattern(1000, 0, 1000),
    ]);
    for (const q of ["", "?gone"]) {
      const r = await fetch(`http://127.0.0.1:${port}/file${q}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-length"), String(want.length));
      assert.deepEqual(new Uint8Array(await r.arrayBuffer()), want, q);
    }
    // HEAD: the length, no body, and the files are closed again.
    const t = await exchange(port, "HEAD /file HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
    assert.match(t, /content-length: 251000\r\n/);
    assert.ok(t.endsWith("\r\n\r\n"), t);
  });
});

test("a file shorter than its part cuts the transfer and is reported", async () => {
  await withServer(async (port) => {
    shorts.length = 0;
    const t = await exchange(port, "GET /file-short HTTP/1.1\r\nhost: a\r\n\r\n");
    if (t.startsWith("HTTP/1.1 500 ")) {
      // Found before the first byte went out (the portable server reads ahead).
      assert.match(t, /connection: close/);
    } else {
      // Found after the head went out (sendfile): the transfer is cut short.
      assert.match(t, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(t, /content-length: 80000\r\n/);
      const body = t.slice(t.indexOf("\r\n\r\n") + 4);
      assert.ok(body.length <= 20_000, `${body.length} bytes of a cut body`);
    }
    for (let i = 0; i < 100 && shorts.length === 0; i++) await sleep(20);
    assert.equal(shorts.length, 1, "the damage was reported");
  });
});

test("index changes are answered at once; hits are reported for access times", async () => {
  await withServer(async (port, _stop, index) => {
    accessed.length = 0;
    const other = "1123456789abcdfghijklmnpqrsvwxyz";
    const get = async (h: string) => {
      const r = await fetch(`http://127.0.0.1:${port}/${h}.narinfo`);
      return [r.status, await r.text()];
    };
    assert.deepEqual(await get(other), [404, "not found\n"]);
    index.put(other, "StorePath: /nix/store/x\n");
    // The epoll front's copy of the index is updated by a message: give it a turn.
    await sleep(0);
    assert.deepEqual(await get(other), [200, "StorePath: /nix/store/x\n"]);
    index.drop(other);
    await sleep(0);
    assert.deepEqual(await get(other), [404, "not found\n"]);
    assert.deepEqual(await get(HASH), [200, "quick"]);
    // Access times: the epoll front reports them once a second.
    for (let i = 0; i < 150 && !accessed.includes(HASH); i++) await sleep(20);
    assert.ok(accessed.includes(HASH), `reported: ${accessed}`);
    assert.ok(accessed.includes(other), `reported: ${accessed}`);
  });
});

test("a large upload and a large download go through whole", async () => {
  await withServer(async (port) => {
    const body = new Uint8Array(24 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body[i] = i >> 12;
    const sum = createHash("sha256").update(body).digest("hex");
    const r = await fetch(`http://127.0.0.1:${port}/echo`, { method: "PUT", body });
    assert.equal(await r.text(), `PUT ${body.length} ${sum}`);
    const n = 64 * 1024 * 1024 + 3;
    const d = await fetch(`http://127.0.0.1:${port}/bytes?n=${n}`);
    let got = 0;
    for await (const piece of d.body!) got += piece.length;
    assert.equal(got, n);
  });
});

test("a port in use is refused with the reason", async () => {
  await withServer((port) => {
    assert.throws(
      () => serveHttp({ hostname: "127.0.0.1", port, io }, app(makeIndex())),
      /in use/i,
    );
    return Promise.resolve();
  });
});

test("a hit just before shutdown is still reported for access times", async () => {
  await withServer(async (port, stop) => {
    accessed.length = 0;
    const r = await fetch(`http://127.0.0.1:${port}${QUICK}`);
    assert.equal(await r.text(), "quick");
    await stop();
    assert.deepEqual(accessed, [HASH]);
  });
});
