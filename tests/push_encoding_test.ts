/**
 * Uploads may carry `Content-Encoding` (Nix 2.32+ sends narinfo, listings
 * and logs that way; proxies may too): gzip, br, zstd and xz bodies are
 * decoded before anything else looks at them; an unknown encoding is a 415
 * that stores nothing.
 */
import assert from "node:assert/strict";
import { brotliCompressSync, gzipSync, zstdCompressSync } from "node:zlib";
import { arca, buildPath, deleteStorePaths, nixEnv, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv } from "./_cache_fixture.ts";
import { dumpPath, narinfoFor, snapshot } from "./_push_fixture.ts";

const TOKEN = "encoding-test-token";

async function putEncoded(
  url: string,
  path: string,
  body: Uint8Array,
  encoding: string,
): Promise<number> {
  const res = await fetch(`${url}${path}`, {
    method: "PUT",
    body: body as Uint8Array<ArrayBuffer>,
    headers: {
      authorization: `Basic ${btoa(`nix:${TOKEN}`)}`,
      "content-encoding": encoding,
    },
  });
  await res.body?.cancel();
  return res.status;
}

Deno.test("uploads with Content-Encoding gzip, br and zstd are decoded; others refused", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_UPLOAD_TOKEN: TOKEN };
  const p = await buildPath("arca-encoded", "mkdir $out; echo encoded > $out/f", nix);
  const server = await startServer([], env);
  try {
    const n = await dumpPath(p, nix);
    const hashPart = p.slice(11, 43);
    const enc = new TextEncoder();

    // An unknown encoding: refused, nothing stored.
    const before = await snapshot(arca, env);
    assert.equal(
      await putEncoded(server.url, `/nar/${n.fileHash32}.nar`, n.bytes, "compress"),
      415,
    );
    assert.equal(await snapshot(arca, env), before);

    assert.equal(
      await putEncoded(server.url, `/nar/${n.fileHash32}.nar`, gzipSync(n.bytes), "gzip"),
      200,
    );
    const narinfo = enc.encode(narinfoFor(p, n, []));
    assert.equal(
      await putEncoded(server.url, `/${hashPart}.narinfo`, brotliCompressSync(narinfo), "br"),
      200,
    );
    const drv = "0".repeat(32) + "-arca-encoded.drv";
    const log = enc.encode("building arca-encoded\nok\n");
    assert.equal(await putEncoded(server.url, `/log/${drv}`, zstdCompressSync(log), "zstd"), 200);

    // What was stored is the decoded content.
    const got = await fetch(`${server.url}/${hashPart}.narinfo`);
    assert.equal(got.status, 200);
    const text = await got.text();
    assert.match(text, new RegExp(`^StorePath: ${p}$`, "m"));
    assert.equal(
      await (await fetch(`${server.url}/log/${drv}`)).text(),
      "building arca-encoded\nok\n",
    );
    const url = /^URL: (.*)$/m.exec(text)![1];
    const nar = await fetch(`${server.url}/${url}`);
    assert.equal(nar.status, 200);
    await nar.body?.cancel();
  } finally {
    await server.stop();
    await deleteStorePaths([p], nix);
    await tmp.cleanup();
  }
});
