/**
 * NAR files the epoll front's worker sends by itself once the app has served
 * them (lib/server/nar_table.ts, epoll/nar_sender.ts) are answered exactly
 * as the app answers them: the same status, fields and bytes for a whole
 * file, a Range (also one spread over two packs) and a HEAD, while what the
 * worker does not answer (If-None-Match, an unsatisfiable Range) still gets
 * the app's 304 and 416. Every request is counted in /metrics, and every GET
 * is a Serve event in the audit log.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { arca, buildPath, nixEnv, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv } from "./_cache_fixture.ts";
import { decodeManifest } from "../lib/store/manifest.ts";

interface Got {
  status: number;
  fields: Map<string, string>;
  body: Uint8Array;
}

async function get(
  url: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Got> {
  const r = await fetch(url, { method, headers });
  const body = new Uint8Array(await r.arrayBuffer());
  const fields = new Map([...r.headers].filter(([k]) => k !== "date"));
  return { status: r.status, fields, body };
}

Deno.test("NARs the front's worker sends match the app's answers, counted and audited", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  try {
    const shared = await buildPath(
      "share-a",
      "mkdir -p $out; head -c 3000000 /dev/urandom > $out/a.bin",
      nix,
    );
    // Its NAR starts with a.bin's chunks, in shared's pack, then its own: two packs.
    const spread = await buildPath(
      "share-b",
      "mkdir -p $out; cat $shared/a.bin > $out/a.bin; head -c 2000000 /dev/urandom > $out/b.bin",
      nix,
      { deps: { shared } },
    );
    for (const p of [shared, spread]) {
      const r = await arca(["import", p], { env });
      assert.equal(r.code, 0, r.stderr);
    }
    const server = await startServer([], env);
    try {
      const narinfo = await (await fetch(`${server.url}/${spread.slice(11, 43)}.narinfo`)).text();
      const url = `${server.url}/${/^URL: (.*)$/m.exec(narinfo)![1]}`;
      const fh32 = /^URL: nar\/([a-z0-9]{52})/m.exec(narinfo)![1];
      const m = decodeManifest(await Deno.readFile(`${env.ARCA_DIR}/manifests/${fh32}.bin`));
      assert.equal(new Set(m.chunks.map((c) => c.pack)).size, 2, "the NAR spans two packs");

      // The first answer is the app's (it checks the chunks, then shares the file).
      const first = await get(url);
      assert.equal(first.status, 200);
      const size = first.body.length;
      assert.equal(first.fields.get("content-length"), String(size));
      const again = await get(url);
      assert.deepEqual([again.status, again.fields], [first.status, first.fields]);
      assert.deepEqual(again.body, first.body);

      // Ranges: inside the first pack, across the packs' boundary, the tail.
      const boundary = m.chunks.filter((c) => c.pack === m.chunks[0].pack)
        .reduce((n, c) => n + c.clen, 0);
      for (
        const [from, to] of [[100, 199], [boundary - 1000, boundary + 999], [size - 10, size - 1]]
      ) {
        const r = await get(url, { range: `bytes=${from}-${to}` });
        assert.equal(r.status, 206, `bytes=${from}-${to}`);
        assert.equal(r.fields.get("content-range"), `bytes ${from}-${to}/${size}`);
        assert.deepEqual(r.body, first.body.slice(from, to + 1));
      }
      const suffix = await get(url, { range: "bytes=-5000" });
      assert.equal(suffix.status, 206);
      assert.deepEqual(suffix.body, first.body.slice(size - 5000));

      const head = await get(url, {}, "HEAD");
      assert.equal(head.status, 200);
      assert.deepEqual(head.fields, first.fields);
      assert.equal(head.body.length, 0);

      // What only the app answers.
      const etag = first.fields.get("etag")!;
      assert.equal((await get(url, { "if-none-match": etag })).status, 304);
      const beyond = await get(url, { range: `bytes=${size + 10}-` });
      assert.equal(beyond.status, 416);
      assert.equal(beyond.fields.get("content-range"), `bytes */${size}`);

      // Counted: 2 + 4 ranges + HEAD + 304 + 416 = 9 NAR responses, 6 of them GETs with a body.
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const count = (status: number) =>
        Number(
          new RegExp(`^arca_http_requests_total\\{route="nar",status="${status}"\\} (\\d+)`, "m")
            .exec(metrics)?.[1] ?? 0,
        );
      // The worker reports its answers once a second.
      let counted = count(200) + count(206);
      for (let i = 0; i < 40 && counted < 7; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const text = await (await fetch(`${server.url}/metrics`)).text();
        counted = ["200", "206"].reduce(
          (n, s) =>
            n +
            Number(
              new RegExp(`^arca_http_requests_total\\{route="nar",status="${s}"\\} (\\d+)`, "m")
                .exec(text)?.[1] ?? 0,
            ),
          0,
        );
      }
      assert.equal(counted, 7, "every 200 and 206 is counted, whoever answered it");
      const sha = createHash("sha256").update(first.body).digest("hex");
      assert.equal(sha, createHash("sha256").update(again.body).digest("hex"));
    } finally {
      await server.stop();
    }
    const audit = await arca(["audit", "--json"], { env });
    assert.equal(audit.code, 0, audit.stderr);
    const serves = audit.stdout.trim().split("\n").map((l) => JSON.parse(l))
      .filter((e) => e.type === "Serve");
    assert.equal(serves.length, 6, "a Serve event per GET with a body (2 whole, 4 ranges)");
  } finally {
    await tmp.cleanup();
  }
});
