/**
 * A download that has started completes while gc deletes what it reads from.
 * Through a real `arca serve`, a NAR response is read partly and slowly;
 * `arca gc --grace 0s` removes the path and deletes its packs meanwhile; then
 * the rest is read: the body must be whole and hash to the narinfo's FileHash.
 *
 * Two shapes, the two ways the kv backend serves a NAR:
 * - a NAR that is exactly one pack (Deno streams the open pack file);
 * - a NAR spread over two packs (its own new chunks first, then chunks shared
 *   with an earlier import), read run by run: the second pack must already be
 *   open when gc unlinks it. Its first part (56 MB) is larger than what the
 *   loopback socket buffers hold, so the server has not reached the second
 *   pack when gc runs.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encodeNix32 } from "../lib/encoding/mod.ts";
import { decodeManifest } from "../lib/store/manifest.ts";
import { arca, buildPath, nixEnv, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv } from "./_cache_fixture.ts";

async function packCount(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(`${dir}/packs`)) if (e.name.endsWith(".pack")) n++;
  return n;
}

/** Starts the NAR download of `storePath`, reads `first` bytes, runs `during`, reads the rest. */
async function downloadAcross(
  url: string,
  storePath: string,
  first: number,
  during: () => Promise<void>,
) {
  const info = await (await fetch(`${url}/${storePath.slice(11, 43)}.narinfo`)).text();
  const narUrl = /^URL: (.*)$/m.exec(info)![1];
  const fileHash = /^FileHash: sha256:(.*)$/m.exec(info)![1];
  const fileSize = Number(/^FileSize: (.*)$/m.exec(info)![1]);
  const res = await fetch(`${url}/${narUrl}`);
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const h = createHash("sha256");
  let got = 0;
  while (got < first) {
    const r = await reader.read();
    if (r.done) break;
    h.update(r.value);
    got += r.value.length;
  }
  await during();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    h.update(r.value);
    got += r.value.length;
  }
  return { got, fileSize, hash: encodeNix32(h.digest()), fileHash };
}

Deno.test("a started download completes while gc deletes its packs", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const cache = `${tmp.path}/cache`;
  try {
    const whole = await buildPath(
      "dl-whole",
      "mkdir -p $out; head -c 30000000 /dev/urandom > $out/big.bin",
      nix,
    );
    const shared = await buildPath(
      "dl-shared",
      "mkdir -p $out; head -c 12000000 /dev/urandom > $out/z.bin",
      nix,
    );
    // a.bin (new) comes first in the NAR, z.bin (chunks of `shared`) after it.
    const spread = await buildPath(
      "dl-spread",
      "mkdir -p $out; head -c 56000000 /dev/urandom > $out/a.bin; cat $shared/z.bin > $out/z.bin",
      nix,
      { deps: { shared } },
    );
    for (const p of [whole, shared, spread]) {
      const r = await arca(["import", p], { env });
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal(await packCount(cache), 3);
    // The spread NAR really uses two packs (its own and `shared`'s).
    const packsOf = new Map<number, number>();
    for await (const e of Deno.readDir(`${cache}/manifests`)) {
      const m = decodeManifest(await Deno.readFile(`${cache}/manifests/${e.name}`));
      const n = new Set(m.chunks.map((c) => c.pack)).size;
      packsOf.set(n, (packsOf.get(n) ?? 0) + 1);
    }
    assert.deepEqual([...packsOf].sort(), [[1, 2], [2, 1]]);
    const server = await startServer([], env);
    try {
      const gc = async () => {
        const g = await arca(["gc", "--max-age", "0s", "--grace", "0s"], { env });
        assert.equal(g.code, 0, g.stderr);
      };
      // Whole-pack NAR: gc removes the path and deletes its pack mid-download.
      const a = await downloadAcross(server.url, whole, 1 << 20, async () => {
        const dry = await arca(["gc", "--max-age", "0s", "--grace", "0s", "--dry-run"], { env });
        assert.match(dry.stdout, /gc plan: 3 paths/);
        // Keep the other two for the second case.
        for (const p of [shared, spread]) assert.equal((await arca(["pin", p], { env })).code, 0);
        await gc();
        assert.equal(await packCount(cache), 2, "the whole NAR's pack was deleted");
      });
      assert.equal(a.got, a.fileSize);
      assert.equal(a.hash, a.fileHash);

      // Spread NAR: both its packs go while the first is being read.
      const b = await downloadAcross(server.url, spread, 1 << 20, async () => {
        for (const p of [shared, spread]) assert.equal((await arca(["unpin", p], { env })).code, 0);
        await gc();
        assert.equal(await packCount(cache), 0, "every pack was deleted");
        const list = JSON.parse((await arca(["list", "--json"], { env })).stdout);
        assert.deepEqual(list, []);
      });
      assert.equal(b.got, b.fileSize);
      assert.equal(b.hash, b.fileHash);
    } finally {
      await server.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});
