/**
 * 50 uploads of distinct paths at once, then 50 downloads at once: no error,
 * every NAR comes back with its NarHash, and the cache counts exactly 50
 * paths. Also: a body over `max_upload_size` gets 413 and stores nothing.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { arca, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv } from "./_cache_fixture.ts";
import { encodeNar } from "../lib/nar/mod.ts";
import { encodeNix32 } from "../lib/encoding/mod.ts";
import { decompressStream } from "../lib/compress/mod.ts";
import { nar, narinfoFor, put, snapshot } from "./_push_fixture.ts";

const TOKEN = "parallel-token";
const N = 50;

async function narOf(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const contents = new TextEncoder().encode(text);
  const body = encodeNar({
    type: "regular",
    executable: false,
    size: contents.length,
    contents: async function* () {
      yield contents;
    },
  });
  return new Uint8Array(await new Response(body).arrayBuffer());
}

Deno.test("50 parallel uploads and downloads of distinct paths", async () => {
  const tmp = await tempDir();
  const env = { ...arcaEnv({}, tmp.path), ARCA_UPLOAD_TOKEN: TOKEN };
  await Deno.mkdir(`${tmp.path}/home/.config/arca`, { recursive: true });
  await Deno.writeTextFile(
    `${tmp.path}/home/.config/arca/config.toml`,
    "max_upload_size = 1048576\n",
  );
  const server = await startServer([], env);
  try {
    const paths = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const hash = encodeNix32(crypto.getRandomValues(new Uint8Array(20)));
      const storePath = `/nix/store/${hash}-parallel-${i}`;
      const n = nar(await narOf(`path ${i} ${crypto.randomUUID()}\n`.repeat(200 + i)));
      return { hash, storePath, n };
    }));
    const ups = await Promise.all(paths.map(async (p) => {
      const a = await put(server.url, `/nar/${p.n.fileHash32}.nar`, p.n.bytes, TOKEN);
      const b = await put(
        server.url,
        `/${p.hash}.narinfo`,
        narinfoFor(p.storePath, p.n, []),
        TOKEN,
      );
      return [a.status, b.status];
    }));
    assert.deepEqual(ups, paths.map(() => [200, 200]));

    const got = await Promise.all(paths.map(async (p) => {
      const info = await (await fetch(`${server.url}/${p.hash}.narinfo`)).text();
      const url = /^URL: (.*)$/m.exec(info)![1];
      const res = await fetch(`${server.url}/${url}`);
      assert.equal(res.status, 200);
      const plain = res.body!.pipeThrough(decompressStream("zstd"));
      const h = createHash("sha256");
      for await (const piece of plain) h.update(piece);
      return encodeNix32(new Uint8Array(h.digest()));
    }));
    assert.deepEqual(got, paths.map((p) => p.n.narHash32));
    const before = await snapshot(arca, env);
    assert.match(before, new RegExp(`"paths": ${N},`));

    const big = nar(await narOf("x".repeat(2 << 20)));
    const r = await put(server.url, `/nar/${big.fileHash32}.nar`, big.bytes, TOKEN);
    assert.equal(r.status, 413);
    assert.equal(await snapshot(arca, env), before);
  } finally {
    await server.stop();
    await tmp.cleanup();
  }
});
