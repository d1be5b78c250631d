/**
 * `cachix push` against a real `arca serve`, with the stand-in client of
 * `_cachix_client.ts` (the request sequence and wire format of cachix
 * 1.11.1, checked field by field there), then a real Nix substituting what
 * was pushed with signatures required. Also: the client's real push order
 * (a path before its references), every refusal as a 4xx problem+json
 * body, and the multipart bookkeeping's limits and expiry.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { arca, buildPath, deleteStorePaths, nixEnv, runOk, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import {
  arcaEnv,
  buildClosure,
  makeKey,
  narHashes,
  nixStoreVerify,
  substitute,
} from "./_cache_fixture.ts";
import { snapshot } from "./_push_fixture.ts";
import {
  type Answer,
  CachixClient,
  ClientError,
  preparePath,
  pushClosure,
  pushPath,
  splitParts,
} from "./_cachix_client.ts";
import { MultipartUploads } from "../lib/store/multipart_uploads.ts";

const TOKEN = "cachix-push-token";
const MiB = 1024 * 1024;

async function writeConfig(dir: string, lines: string[]): Promise<void> {
  await Deno.mkdir(`${dir}/home/.config/arca`, { recursive: true });
  await Deno.writeTextFile(`${dir}/home/.config/arca/config.toml`, lines.join("\n") + "\n");
}

/** CACHIX_SIGNING_KEY from a Nix secret key file: the base64 after `name:`. */
async function cachixSigningKey(secretFile: string): Promise<string> {
  return (await Deno.readTextFile(secretFile)).trim().split(":")[1];
}

async function auditCount(env: Record<string, string>, type: string): Promise<number> {
  const r = await arca(["audit", "--json"], { env });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l && JSON.parse(l).type === type).length;
}

async function narinfo(url: string, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/${path.slice(11, 43)}.narinfo`);
  return { status: res.status, text: await res.text() };
}

/** Upload folders left in the cache's tmp/. */
async function leftovers(cacheDir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${cacheDir}/tmp`)) {
    if (e.name.includes("cachix")) out.push(e.name);
  }
  return out;
}

function assertProblem(a: Answer, status: number, detail: RegExp, what: string): void {
  assert.equal(a.status, status, `${what}: ${a.text}`);
  assert.equal(a.headers.get("content-type"), "application/problem+json", what);
  assert.equal(a.json?.status, status, what);
  assert.equal(typeof a.json?.title, "string", what);
  assert.match(a.json?.detail ?? "", detail, what);
}

Deno.test("cachix push of a real closure (signing key, zstd, 5 MiB parts); Nix substitutes it", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const pusher = await makeKey(tmp.path, "cachix-pusher-1", env);
  const own = await makeKey(tmp.path, "arca-own-1", env);
  await writeConfig(tmp.path, [
    `upload_tokens = ["${TOKEN}"]`,
    `trusted_public_keys = ["${pusher.pub}"]`,
    `signing_key_path = "${own.secret}"`,
  ]);
  const server = await startServer([], env);
  try {
    // data holds 12 MB of random bytes: its zstd file needs three 5 MiB parts.
    const closure = await buildClosure(nix, 12_000_000);
    const before = await narHashes(closure.top, nix);
    const client = new CachixClient(server.url, "mycache", TOKEN);
    const signingKey = await cachixSigningKey(pusher.secret);
    const pushed = await pushClosure(client, [closure.top], {
      env: nix,
      signingKey,
      chunkSize: 5 * MiB,
    });
    assert.equal(pushed.compression, "zstd");
    assert.equal(pushed.missing.length, 5);
    // With a signing key the client does not ask for the cache first.
    assert.equal(client.log[0], "POST /api/v1/cache/mycache/narinfo");
    const parts = client.log.filter((l) => l.startsWith("PUT ")).length;
    assert.equal(parts, 4 + 3, client.log.join("\n"));
    assert.equal(client.log.filter((l) => l.endsWith("/complete")).length, 5);
    // The closure went in store-path order, 8 at a time, yet every path is published.
    for (const p of closure.paths) {
      const n = await narinfo(server.url, p);
      assert.equal(n.status, 200, `${p} is not published`);
      assert.match(n.text, /^Sig: cachix-pusher-1:/m, "the client's cSig is kept, named");
      assert.match(n.text, /^Sig: arca-own-1:/m);
    }
    assert.equal(await auditCount(env, "UploadNar"), 5);
    assert.equal(await auditCount(env, "Upload"), 5);
    assert.deepEqual(await leftovers(`${tmp.path}/cache`), [], "parts are removed");

    // Again: nothing is missing, so nothing is uploaded.
    const again = new CachixClient(server.url, "mycache", TOKEN);
    const second = await pushClosure(again, [closure.top], { env: nix, signingKey });
    assert.equal(second.missing.length, 0);
    assert.deepEqual(again.log, ["POST /api/v1/cache/mycache/narinfo"]);

    // A real Nix trusting only the pusher's key gets the closure back.
    const verify = await nixStoreVerify(closure.top, server.url, pusher.pub, nix);
    assert.equal(verify.code, 0, verify.stderr);
    await deleteStorePaths(closure.paths, nix);
    const got = await substitute([closure.top], server.url, pusher.pub, nix);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(await narHashes(closure.top, nix), before);
  } finally {
    await server.stop();
    await tmp.cleanup();
  }
});

Deno.test("cachix push with a token only: cache info, xz, an empty last part; cachix use's keys work", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const own = await makeKey(tmp.path, "arca-signs-1", env);
  await writeConfig(tmp.path, [
    `upload_tokens = ["${TOKEN}"]`,
    `signing_key_path = "${own.secret}"`,
  ]);
  const server = await startServer([], env);
  try {
    const a = await buildPath("cachix-a", "mkdir -p $out; seq 1 20000 > $out/a", nix);
    const b = await buildPath("cachix-b", "mkdir -p $out; echo $a > $out/b", nix, { deps: { a } });
    const client = new CachixClient(server.url, "team", TOKEN);
    const info = await client.getCache();
    assert.equal(info.status, 200);
    assert.match(info.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(info.json, {
      name: "team",
      uri: server.url,
      isPublic: true,
      publicSigningKeys: [own.pub],
      githubUsername: "",
      permission: "Write",
      preferredCompressionMethod: "ZSTD",
    });
    // Anyone may read an open cache's info (cachix use sends an empty token).
    const anon = await new CachixClient(server.url, "team").getCache();
    assert.equal(anon.status, 200);
    assert.equal(anon.json.permission, "Read");

    // b alone, as xz, its file cut so that the last part is empty (as the client does
    // when the size divides): the server must take a zero-byte part.
    client.log.length = 0;
    const prepB = await preparePath(b, "xz", { env: nix });
    prepB.parts = splitParts(prepB.compressed, prepB.compressed.length);
    assert.equal(prepB.parts.length, 2);
    assert.equal(prepB.parts[1].length, 0);
    // a first, through the whole client sequence (getCache, bulk, then a push).
    const pushedA = await pushClosure(client, [a], { env: nix, compressionMethod: "xz" });
    assert.equal(pushedA.compression, "xz");
    assert.deepEqual(client.log.slice(0, 3), [
      "GET /api/v1/cache/team",
      "POST /api/v1/cache/team/narinfo",
      "POST /api/v1/cache/team/multipart-nar",
    ]);
    await pushPath(client, prepB);
    assert.equal((await narinfo(server.url, b)).status, 200);
    assert.match((await narinfo(server.url, b)).text, /^Sig: arca-signs-1:/m);

    // HEAD of a narinfo (watch-store's question): 200 when cached, 404 when not.
    assert.equal((await client.narinfoHead(b.slice(11, 43))).status, 200);
    assert.equal((await client.narinfoHead("0".repeat(32))).status, 404);

    // Nix trusting the keys the cache info lists (what `cachix use` writes) substitutes.
    await deleteStorePaths([b, a], nix);
    const got = await substitute([b], info.json.uri, info.json.publicSigningKeys.join(" "), nix);
    assert.equal(got.code, 0, got.stderr);
    assert.match(await runOk("cat", [`${b}/b`]), new RegExp(a));
  } finally {
    await server.stop();
    await tmp.cleanup();
  }
});

Deno.test("a path pushed before its references waits for them; one whose reference nobody announced is refused", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const pusher = await makeKey(tmp.path, "order-pusher-1", env);
  await writeConfig(tmp.path, [
    `upload_tokens = ["${TOKEN}"]`,
    `trusted_public_keys = ["${pusher.pub}"]`,
  ]);
  const server = await startServer([], env);
  try {
    const signingKey = await cachixSigningKey(pusher.secret);
    const opts = { env: nix, signingKey };
    const a = await buildPath("wait-a", "mkdir -p $out; echo a > $out/a", nix);
    const b = await buildPath("wait-b", "mkdir -p $out; echo $a > $out/b", nix, { deps: { a } });
    const c = await buildPath("wait-c", "mkdir -p $out; echo $b > $out/c", nix, { deps: { b } });
    const client = new CachixClient(server.url, "order", TOKEN);

    // Nobody said a or b are coming: c is refused, and nothing is published.
    const early = await pushPath(client, await preparePath(c, "zstd", opts)).catch((e) => e);
    assert.ok(early instanceof ClientError);
    assertProblem(early.answer, 409, /references not in the cache yet: .*-wait-b/, "c early");
    assert.equal((await narinfo(server.url, c)).status, 404);

    // The client's query says a, b, c are missing: now each may wait for the others.
    const q = await client.narinfoBulk([a, b, c].map((p) => p.slice(11, 43)));
    assert.deepEqual(q.json, [a, b, c].map((p) => p.slice(11, 43)));
    await pushPath(client, await preparePath(c, "zstd", opts));
    await pushPath(client, await preparePath(b, "zstd", opts));
    assert.equal((await narinfo(server.url, c)).status, 404, "c must wait for b and a");
    assert.equal((await narinfo(server.url, b)).status, 404, "b must wait for a");
    // Waiting paths still count as missing.
    assert.equal((await client.narinfoBulk([c.slice(11, 43)])).json.length, 1);
    await pushPath(client, await preparePath(a, "zstd", opts));
    for (const p of [a, b, c]) assert.equal((await narinfo(server.url, p)).status, 200, p);

    await deleteStorePaths([c, b, a], nix);
    const got = await substitute([c], server.url, pusher.pub, nix);
    assert.equal(got.code, 0, got.stderr);
  } finally {
    await server.stop();
    await tmp.cleanup();
  }
});

Deno.test("every client mistake is a 4xx problem+json, and nothing is published", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const pusher = await makeKey(tmp.path, "neg-pusher-1", env);
  const stranger = await makeKey(tmp.path, "neg-stranger-1", env);
  await writeConfig(tmp.path, [
    `upload_tokens = ["${TOKEN}"]`,
    `read_token = "reader"`,
    `trusted_public_keys = ["${pusher.pub}"]`,
    `max_upload_size = ${1 * MiB}`,
  ]);
  const server = await startServer([], env);
  const closedDir = await tempDir();
  const closed = await startServer([], arcaEnv(nix, closedDir.path));
  try {
    const signingKey = await cachixSigningKey(pusher.secret);
    const opts = { env: nix, signingKey };
    const a = await buildPath("neg-a", "mkdir -p $out; seq 1 3000 > $out/a", nix);
    const b = await buildPath("neg-b", "mkdir -p $out; echo $a > $out/b", nix, { deps: { a } });
    const prepA = await preparePath(a, "zstd", opts);
    const hashA = a.slice(11, 43);
    const url = server.url;
    const good = new CachixClient(url, "neg", TOKEN);
    const empty = await snapshot(arca, env);

    /** Opens an upload and sends prepA's parts; its ids and ETags. */
    const upload = async (client = good, prep = prepA) => {
      const c = await client.createNar(prep.compression);
      assert.equal(c.status, 200, c.text);
      const etags: string[] = [];
      for (const [i, part] of prep.parts.entries()) {
        const md5 = md5b64(part);
        const u = await client.uploadNarPart(c.json.narId, c.json.uploadId, i + 1, md5);
        assert.equal(u.status, 200, u.text);
        const put = await client.putPart(u.json.uploadUrl, part, md5);
        assert.equal(put.status, 200, put.text);
        etags.push(put.headers.get("etag")!);
      }
      const parts = etags.map((eTag, i) => ({ partNumber: i + 1, eTag }));
      return { narId: c.json.narId as string, uploadId: c.json.uploadId as string, parts };
    };
    const completeWith = async (
      change: (nic: Record<string, unknown>) => void,
      parts?: unknown,
    ) => {
      const u = await upload();
      const nic = structuredClone(prepA.narInfoCreate);
      change(nic);
      return await good.complete(u.narId, u.uploadId, {
        parts: parts === undefined ? u.parts : parts,
        narInfoCreate: nic,
      });
    };
    const other = await preparePath(b, "zstd", opts);
    const strangerSig = (await preparePath(a, "zstd", {
      env: nix,
      signingKey: await cachixSigningKey(stranger.secret),
    })).narInfoCreate.cSig;

    const cases: [string, () => Promise<Answer>, number, RegExp][] = [
      // Tokens: missing, wrong, a reader's, and none configured at all.
      ["no token", () => new CachixClient(url, "neg").createNar("zstd"), 401, /upload token/],
      ["wrong token", () => new CachixClient(url, "neg", "nope").createNar("zstd"), 401, /not one/],
      [
        "wrong token, reading",
        () => new CachixClient(url, "neg", "nope").getCache(),
        401,
        /not one/,
      ],
      ["private cache, no token", () => new CachixClient(url, "neg").getCache(), 401, /private/],
      [
        "read token pushing",
        () => new CachixClient(url, "neg", "reader").createNar("zstd"),
        403,
        /not push/,
      ],
      [
        "uploads disabled",
        () => new CachixClient(closed.url, "neg", TOKEN).createNar("zstd"),
        403,
        /disabled/,
      ],
      // Malformed requests.
      ["bulk: not JSON", () => good.raw("POST", "/narinfo", "[oops"), 400, /not JSON/],
      ["bulk: not hashes", () => good.narinfoBulk(["../etc"]), 400, /not a store path hash/],
      [
        "complete: not JSON",
        async () => {
          const u = await upload();
          return await good.raw(
            "POST",
            `/multipart-nar/${u.narId}/complete?uploadId=${u.uploadId}`,
            "{",
          );
        },
        400,
        /not JSON/,
      ],
      [
        "complete: no narInfoCreate",
        async () => {
          const u = await upload();
          return await good.complete(u.narId, u.uploadId, { parts: u.parts });
        },
        400,
        /narInfoCreate must be a JSON object/,
      ],
      ["compression", () => good.createNar("lz4"), 400, /Wrong compression method: lz4/],
      ["unknown route", () => good.raw("POST", "/pin", "{}"), 404, /does not implement/],
      [
        "bad cache name",
        () => new CachixClient(url, "-x", TOKEN).getCache(),
        404,
        /no cache named/,
      ],
      // The NAR is not what narInfoCreate says.
      [
        "bad NarHash",
        () => completeWith((n) => n.cNarHash = other.narInfoCreate.cNarHash),
        400,
        /hashes to .* but narInfoCreate claims/,
      ],
      [
        "wrong NarSize",
        () => completeWith((n) => n.cNarSize = (n.cNarSize as number) + 8),
        400,
        /but narInfoCreate claims/,
      ],
      [
        "bad FileHash",
        () => completeWith((n) => n.cFileHash = "ab".repeat(32)),
        400,
        /hash to sha256:/,
      ],
      [
        "wrong FileSize",
        () => completeWith((n) => n.cFileSize = (n.cFileSize as number) + 1),
        400,
        /cFileSize says/,
      ],
      ["bad cSig format", () => completeWith((n) => n.cSig = "AAAA"), 400, /cSig must be a base64/],
      [
        "bad StorePath",
        () => completeWith((n) => n.cStoreSuffix = "a\nSig: x"),
        400,
        /cStoreSuffix/,
      ],
      // Trust and closure.
      [
        "no signature",
        () => completeWith((n) => n.cSig = null),
        403,
        /no signature by a trusted key \(neg-pusher-1\)/,
      ],
      ["untrusted key", () => completeWith((n) => n.cSig = strangerSig), 403, /CACHIX_SIGNING_KEY/],
      [
        "missing reference",
        async () => {
          const u = await upload(good, other);
          return await good.complete(u.narId, u.uploadId, {
            parts: u.parts,
            narInfoCreate: other.narInfoCreate,
          });
        },
        409,
        /references not in the cache yet: .*-neg-a/,
      ],
      // Multipart bookkeeping.
      [
        "unknown upload id",
        () =>
          good.uploadNarPart(crypto.randomUUID(), "00".repeat(32), 1, "1B2M2Y8AsgTpgAmY7PhCfg=="),
        404,
        /no open multipart upload/,
      ],
      [
        "wrong uploadId",
        async () => {
          const u = await upload();
          return await good.complete(u.narId, "ff".repeat(32), {
            parts: u.parts,
            narInfoCreate: prepA.narInfoCreate,
          });
        },
        404,
        /no open multipart upload/,
      ],
      [
        "too many parts",
        async () => {
          const c = await good.createNar("zstd");
          return await good.uploadNarPart(
            c.json.narId,
            c.json.uploadId,
            10_001,
            "1B2M2Y8AsgTpgAmY7PhCfg==",
          );
        },
        400,
        /out of range: an upload has parts 1 to 10000/,
      ],
      [
        "bad contentMD5",
        async () => {
          const c = await good.createNar("zstd");
          return await good.uploadNarPart(c.json.narId, c.json.uploadId, 1, "nope");
        },
        400,
        /not a base64 MD5/,
      ],
      [
        "oversized part",
        async () => {
          const big = new Uint8Array(1 * MiB + 1);
          const md5 = md5b64(big);
          const c = await good.createNar("zstd");
          const u = await good.uploadNarPart(c.json.narId, c.json.uploadId, 1, md5);
          return await good.putPart(u.json.uploadUrl, big, md5);
        },
        413,
        /over the 1048576 bytes/,
      ],
      [
        "part URL, wrong key",
        async () => {
          const c = await good.createNar("zstd");
          const md5 = md5b64(prepA.parts[0]);
          const u = await good.uploadNarPart(c.json.narId, c.json.uploadId, 1, md5);
          const forged = u.json.uploadUrl.replace(
            /key=[0-9a-f]/,
            (k: string) => k.endsWith("0") ? "key=1" : "key=0",
          );
          return await good.putPart(forged, prepA.parts[0], md5);
        },
        403,
        /key is not valid/,
      ],
      [
        "part body not its MD5",
        async () => {
          const c = await good.createNar("zstd");
          const md5 = md5b64(prepA.parts[0]);
          const u = await good.uploadNarPart(c.json.narId, c.json.uploadId, 1, md5);
          return await good.putPart(u.json.uploadUrl, new Uint8Array(prepA.parts[0].length), md5);
        },
        400,
        /have MD5 .*, not the Content-MD5/,
      ],
      ["parts null (an ETag was lost)", () => completeWith(() => {}, null), 400, /no parts listed/],
      [
        "parts out of order",
        async () => {
          const u = await upload();
          const parts = [{ partNumber: 2, eTag: u.parts[0].eTag }];
          return await good.complete(u.narId, u.uploadId, {
            parts,
            narInfoCreate: prepA.narInfoCreate,
          });
        },
        400,
        /listed as 1, 2, 3/,
      ],
      [
        "wrong ETag",
        () => completeWith(() => {}, [{ partNumber: 1, eTag: '"0123"' }]),
        400,
        /has ETag/,
      ],
    ];
    for (const [what, call, status, detail] of cases) {
      assertProblem(await call(), status, detail, what);
    }
    // Missing parts: the completion names the part that never came.
    const two = {
      ...prepA,
      parts: splitParts(prepA.compressed, Math.ceil(prepA.compressed.length / 2)),
    };
    const c = await good.createNar("zstd");
    const md5 = md5b64(two.parts[0]);
    const u1 = await good.uploadNarPart(c.json.narId, c.json.uploadId, 1, md5);
    const put = await good.putPart(u1.json.uploadUrl, two.parts[0], md5);
    const listed = [
      { partNumber: 1, eTag: put.headers.get("etag") },
      { partNumber: 2, eTag: '"00"' },
    ];
    assertProblem(
      await good.complete(c.json.narId, c.json.uploadId, {
        parts: listed,
        narInfoCreate: prepA.narInfoCreate,
      }),
      400,
      /part 2 was never uploaded/,
      "missing part",
    );
    await good.abort(c.json.narId, c.json.uploadId);
    assertProblem(
      await good.abort(c.json.narId, c.json.uploadId),
      404,
      /no open multipart upload/,
      "abort twice",
    );

    assert.match(empty, /"paths": 0/);
    assert.match(await snapshot(arca, env), /"paths": 0/, "a refusal published something");
    // Then the same path, pushed properly, goes in (the refusals left nothing in the way).
    await pushPath(good, prepA);
    const n = await fetch(`${url}/${hashA}.narinfo`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(n.status, 200);
    await n.body?.cancel();
    // Refused completions leave their uploads open (to be fixed and sent again) until
    // they expire; a stopping server removes them.
    assert.notDeepEqual(await leftovers(`${tmp.path}/cache`), []);
    await server.stop();
    assert.deepEqual(await leftovers(`${tmp.path}/cache`), []);
  } finally {
    await server.stop();
    await closed.stop();
    await tmp.cleanup();
    await closedDir.cleanup();
  }
});

Deno.test("multipart uploads: bounded, idle ones expire, and their parts are removed", async () => {
  const tmp = await tempDir();
  let now = 1_000_000;
  const limits = { maxOpen: 2, maxParts: 3, maxPartBytes: 10, maxTotalBytes: 15, idleMs: 60_000 };
  const m = new MultipartUploads(tmp.path, limits, () => now);
  try {
    const body = (b: Uint8Array) => new Blob([b as Uint8Array<ArrayBuffer>]).stream();
    const u = await m.create("zstd");
    const bytes = new TextEncoder().encode("0123456789");
    const md5 = md5b64(bytes);
    const key = m.grantPart(u.narId, u.uploadId, 1, md5);
    const etag = await m.putPart(u.narId, 1, key, md5, bytes.length, body(bytes));
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    // The second part may only have what is left of the total (5 bytes).
    const key2 = m.grantPart(u.narId, u.uploadId, 2, md5);
    await assert.rejects(
      m.putPart(u.narId, 2, key2, md5, undefined, body(bytes)),
      /larger than 5 bytes/,
    );
    assert.throws(() => m.grantPart(u.narId, u.uploadId, 4, md5), /out of range/);
    await m.create("xz");
    await assert.rejects(m.create("xz"), /2 multipart uploads are open/);
    assert.equal([...Deno.readDirSync(tmp.path)].length, 2);
    // An hour of nothing later, both are gone, files and all; a new one may open.
    now += 60_001;
    assert.equal(await m.sweep(), 2);
    assert.equal([...Deno.readDirSync(tmp.path)].length, 0);
    assert.throws(
      () => m.complete(u.narId, u.uploadId, [{ partNumber: 1, eTag: etag }], 10),
      /no open/,
    );
    const v = await m.create("zstd");
    await m.close();
    assert.throws(() => m.grantPart(v.narId, v.uploadId, 1, md5), /no open/);
    assert.equal([...Deno.readDirSync(tmp.path)].length, 0);
  } finally {
    await tmp.cleanup();
  }
});

function md5b64(b: Uint8Array): string {
  return createHash("md5").update(b).digest("base64");
}
