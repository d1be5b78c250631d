/** The pure HTTP/1.1 formats: request heads, chunked bodies, response heads. */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ChunkedDecoder,
  findHeadEnd,
  formatResponseHead,
  HeadParser,
  httpDate,
  HttpError,
  parseRequestHead,
  type RequestHead,
} from "../lib/http1/mod.ts";

const enc = new TextEncoder();
const head = (s: string) => parseRequestHead(enc.encode(s));

Deno.test("a request head parses into method, path, fields and framing", () => {
  const h = head(
    "PUT /nar/abc.nar.zst?x=1 HTTP/1.1\r\nHost: cache:5555\r\nContent-Length: 12\r\n" +
      "Expect: 100-continue\r\nX-Thing:  spaced value \r\n\r\n",
  );
  assert.equal(h.method, "PUT");
  assert.equal(h.target, "/nar/abc.nar.zst?x=1");
  assert.equal(h.path, "/nar/abc.nar.zst");
  assert.equal(h.minor, 1);
  assert.equal(h.contentLength, 12);
  assert.equal(h.chunked, false);
  assert.equal(h.keepAlive, true);
  assert.equal(h.expectContinue, true);
  assert.equal(h.host, "cache:5555");
  assert.deepEqual(h.headers.at(-1), ["x-thing", "spaced value"]);

  const c = head(
    "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
  );
  assert.equal(c.chunked, true);
  assert.equal(c.contentLength, -1);
  assert.equal(c.keepAlive, false);

  const old = head("GET /x HTTP/1.0\r\n\r\n");
  assert.equal(old.minor, 0);
  assert.equal(old.keepAlive, false);
  assert.equal(head("GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive, true);
  assert.equal(head("GET http://h:1/a/b?q HTTP/1.1\r\nhost: h\r\n\r\n").path, "/a/b");
  assert.equal(head("GET http://h HTTP/1.1\r\nhost: h\r\n\r\n").path, "/");
  assert.equal(head("OPTIONS * HTTP/1.1\r\nhost: h\r\n\r\n").path, "");
});

Deno.test("bytes above ASCII in a value are kept one char per byte (obs-text)", () => {
  for (
    const [bytes, want] of [[[0xc3, 0xa9], "\u00c3\u00a9"], [[0xff], "\u00ff"], [
      [0xef, 0xbf, 0xbd],
      "\u00ef\u00bf\u00bd",
    ]] as const
  ) {
    const b = new Uint8Array([
      ...enc.encode("GET / HTTP/1.1\r\nhost: a\r\nx-v: <"),
      ...bytes,
      ...enc.encode(">\r\n\r\n"),
    ]);
    assert.equal(parseRequestHead(b).headers.at(-1)![1], `<${want}>`);
  }
});

Deno.test("ambiguous or malformed heads are refused with the right status", () => {
  const cases: [string, number, RegExp][] = [
    ["GET /\r\n\r\n", 400, /request line/],
    ["GET  / HTTP/1.1\r\nhost: a\r\n\r\n", 400, /target/],
    ["G(T / HTTP/1.1\r\nhost: a\r\n\r\n", 400, /method/],
    ["GET / HTTP/2.0\r\nhost: a\r\n\r\n", 505, /HTTP\/2\.0/],
    ["GET / HTTX/1.1\r\nhost: a\r\n\r\n", 400, /version/],
    ["GET / HTTP/1.1\r\n\r\n", 400, /without Host/],
    ["GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n", 400, /more than one Host/],
    ["GET / HTTP/1.1\r\nhost: a\r\n folded\r\n\r\n", 400, /folded/],
    ["GET / HTTP/1.1\r\nhost : a\r\n\r\n", 400, /name: value/],
    ["GET / HTTP/1.1\r\nnocolon\r\n\r\n", 400, /name: value/],
    ["GET / HTTP/1.1\r\nhost: a\x00b\r\n\r\n", 400, /control characters/],
    ["POST / HTTP/1.1\r\nhost: a\r\ncontent-length: -1\r\n\r\n", 400, /Content-Length/],
    ["POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5, 5\r\n\r\n", 400, /Content-Length/],
    [
      "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
      400,
      /conflicting/,
    ],
    [
      "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",
      400,
      /both/,
    ],
    ["POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip\r\n\r\n", 501, /gzip/],
    ["POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\n\r\n", 501, /gzip/],
    ["POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n", 400, /HTTP\/1\.0/],
    ["GET / HTTP/1.1\r\nhost: a\r\nexpect: magic\r\n\r\n", 417, /magic/],
    ["GET / HTTP/1.1\r\nhost: a\r\n", 400, /empty line/],
  ];
  for (const [text, status, msg] of cases) {
    assert.throws(() => head(text), (e) => {
      assert.ok(e instanceof HttpError, `${JSON.stringify(text)}: ${e}`);
      assert.equal(e.status, status, JSON.stringify(text));
      assert.match(e.message, msg, JSON.stringify(text));
      return true;
    });
  }
  const many = "GET / HTTP/1.1\r\nhost: a\r\n" + "x: y\r\n".repeat(100) + "\r\n";
  assert.throws(() => head(many), (e) => e instanceof HttpError && e.status === 431);
});

Deno.test("any bytes as a head: an HttpError or a result, nothing else", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const withEnd = new Uint8Array([...bytes, 13, 10, 13, 10]);
      try {
        parseRequestHead(withEnd);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
      }
    }),
    { numRuns: 3000 },
  );
});

/** The outcome of a parse: the head, or the refusal's status and message. */
function outcome(parse: () => RequestHead): RequestHead | string {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    return `${e.status} ${e.message}`;
  }
}

Deno.test("a connection's head parser agrees with parseRequestHead on any sequence", () => {
  // Few field blocks, so they repeat (the parser's shortcut), and request
  // lines near the edges of what the shortcut takes.
  const line = fc.tuple(
    fc.constantFrom("GET", "HEAD", "POST", "PUT", "G(T", "", "get", "GET\xff"),
    fc.constantFrom(
      "/x.narinfo",
      "/nar/a.nar.zst?q=1",
      "http://h:1/a",
      "*",
      "",
      "/a b",
      "/\xe9",
      "/\x7f",
    ),
    fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 ", "HTTP/1.", "HTTP/1.1\r"),
  ).map(([m, t, v]) => `${m} ${t} ${v}\r\n`);
  const block = fc.constantFrom(
    "host: a\r\n\r\n",
    "Host: 127.0.0.1:5555\r\nUser-Agent: curl/7.83.1 Nix/2.8.0\r\nAccept: */*\r\n\r\n",
    "host: a\r\nconnection: close\r\n\r\n",
    "host: a\r\ncontent-length: 5\r\n\r\n",
    "host: a\r\ntransfer-encoding: chunked\r\n\r\n",
    "host: a\r\nexpect: 100-continue\r\n\r\n",
    "connection: keep-alive\r\n\r\n",
    "\r\n",
    "host: a\r\nx: \xc3\xa9\r\n\r\n",
    "host: a\r\n folded\r\n\r\n",
  );
  const heads = fc.array(fc.tuple(line, block).map(([l, b]) => latin1Bytes(l + b)), {
    minLength: 1,
    maxLength: 12,
  });
  fc.assert(
    fc.property(heads, (seq) => {
      const parser = new HeadParser();
      for (const bytes of seq) {
        assert.deepEqual(
          outcome(() => parser.parse(padded(bytes), 3, bytes.length + 3)),
          outcome(() => parseRequestHead(bytes)),
        );
      }
    }),
    { numRuns: 3000 },
  );
});

Deno.test("the head parser reads only the request line when the fields repeat", () => {
  const p = new HeadParser();
  const parser = { parse: (b: Uint8Array) => p.parse(b, 0, b.length) };
  const fields = "Host: h\r\nAccept: */*\r\n\r\n";
  const first = parser.parse(enc.encode(`GET /a HTTP/1.1\r\n${fields}`));
  const second = parser.parse(enc.encode(`HEAD /b?x HTTP/1.1\r\n${fields}`));
  // The same field list object is the shortcut's trace: the fields were not parsed again.
  assert.equal(second.headers, first.headers);
  assert.deepEqual([second.method, second.target, second.path], ["HEAD", "/b?x", "/b"]);
  const changed = parser.parse(enc.encode(`GET /c HTTP/1.1\r\nHost: h\r\nAccept: x\r\n\r\n`));
  assert.notEqual(changed.headers, first.headers);
  assert.deepEqual(changed.headers, [["host", "h"], ["accept", "x"]]);
  // A version other than the remembered one is parsed in full (its fields mean other things).
  const old = parser.parse(enc.encode(`GET /c HTTP/1.0\r\nHost: h\r\nAccept: x\r\n\r\n`));
  assert.notEqual(old.headers, changed.headers);
  assert.equal(old.keepAlive, false);
});

Deno.test("a new parser takes the shortcut for fields another parser of the thread read", () => {
  const fields = "Host: shared\r\nRange: bytes=5-9\r\n\r\n";
  const a = new HeadParser().parse(...bounds(`GET /nar/x HTTP/1.1\r\n${fields}`));
  // A new connection (a new parser) with the same fields: no second full parse.
  const b = new HeadParser().parse(...bounds(`GET /nar/y HTTP/1.1\r\n${fields}`));
  assert.equal(b.headers, a.headers);
  assert.deepEqual([b.method, b.path], ["GET", "/nar/y"]);
  // The version is part of the match: the same fields under HTTP/1.0 mean other framing.
  const old = new HeadParser().parse(...bounds(`GET /nar/y HTTP/1.0\r\n${fields}`));
  assert.notEqual(old.headers, a.headers);
  assert.equal(old.keepAlive, false);
  assert.equal(b.keepAlive, true);
});

function bounds(text: string): [Uint8Array, number, number] {
  const b = enc.encode(text);
  return [b, 0, b.length];
}

Deno.test("findHeadEnd finds the first CRLF CRLF within bounds", () => {
  const b = enc.encode("GET / HTTP/1.1\r\nhost: a\r\n\r\nNEXT\r\n\r\n");
  assert.equal(findHeadEnd(b, 0, b.length), 27);
  assert.equal(findHeadEnd(b, 0, 26), -1);
  assert.equal(findHeadEnd(b, 23, b.length), 27);
  assert.equal(findHeadEnd(b, 24, b.length), 35);
  assert.equal(findHeadEnd(b, 27, b.length), b.length);
  assert.equal(findHeadEnd(enc.encode("\n\n\r\n"), 0, 4), -1);
});

Deno.test("chunked bodies decode the same whatever the split", () => {
  const arb = fc.record({
    chunks: fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { maxLength: 8 }),
    cuts: fc.array(fc.nat(2000), { maxLength: 10 }),
    ext: fc.boolean(),
    trailer: fc.boolean(),
  });
  fc.assert(
    fc.property(arb, ({ chunks, cuts, ext, trailer }) => {
      const parts: Uint8Array[] = [];
      for (const c of chunks) {
        parts.push(
          enc.encode(`${c.length.toString(16)}${ext ? ";name=v" : ""}\r\n`),
          c,
          enc.encode("\r\n"),
        );
      }
      parts.push(enc.encode(`0\r\n${trailer ? "x-sum: 1\r\n" : ""}\r\nNEXT`));
      const wire = join(parts);
      const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
      const d = new ChunkedDecoder();
      const out: Uint8Array[] = [];
      let at = 0;
      let rest = -1;
      for (const end of [...points, wire.length]) {
        if (end <= at || rest >= 0) continue;
        const r = d.push(wire, at, end);
        out.push(...r.data.map((x) => x.slice()));
        if (r.done) rest = at + r.consumed;
        at = end;
      }
      assert.ok(d.done);
      assert.deepEqual(join(out), join(chunks));
      assert.equal(new TextDecoder().decode(wire.subarray(rest)), "NEXT");
    }),
    { numRuns: 500 },
  );
});

Deno.test("malformed chunked bodies are refused", () => {
  for (
    const [wire, msg] of [
      ["zz\r\n", /chunk size/],
      ["-1\r\n", /chunk size/],
      ["1234567890abc\r\n", /chunk size/],
      ["3\r\nabcd\r\n", /longer than its size/],
      ["3\nabc", /bare LF/],
      ["f".repeat(5000), /line too long/],
      ["0\r\n" + "x: y\r\n".repeat(3000), /trailer section/],
    ] as [string, RegExp][]
  ) {
    const b = enc.encode(wire);
    assert.throws(
      () => new ChunkedDecoder().push(b, 0, b.length),
      (e) => e instanceof HttpError && e.status === 400 && msg.test(e.message),
      wire.slice(0, 20),
    );
  }
});

Deno.test("response heads and dates", () => {
  assert.equal(
    formatResponseHead(206, [["content-range", "bytes 0-1/2"], ["etag", '"x"']]),
    'HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 0-1/2\r\netag: "x"\r\n\r\n',
  );
  assert.equal(formatResponseHead(299, []), "HTTP/1.1 299 \r\n\r\n");
  assert.equal(httpDate(Date.UTC(2026, 10, 22, 2, 5, 9)), "Sun, 22 Nov 2026 02:05:09 GMT");
  assert.equal(httpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
});

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function latin1Bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** `bytes` with bytes before and after, as a head sits in a connection's buffer. */
function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 6).fill(32);
  out.set(bytes, 3);
  return out;
}
