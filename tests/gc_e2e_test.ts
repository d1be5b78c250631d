/**
 * gc end to end with a real Nix: four closures imported at different times,
 * one pinned and one downloaded. `gc --max-age` removes exactly the oldest
 * unpinned one, `gc --max-size` (bytes on disk) the least recently used one; the pinned one
 * survives both; stored bytes go down by what the removed paths had stored;
 * afterwards a real Nix substitutes every closure still listed.
 */
import assert from "node:assert/strict";
import { arca, buildPath, deleteStorePaths, nixEnv, runOk, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv, makeKey, substitute } from "./_cache_fixture.ts";
import { diskShot } from "./_disk.ts";

async function smallClosure(tag: string, nix: Record<string, string>) {
  const lib = await buildPath(
    `gc-${tag}-lib`,
    "mkdir -p $out; head -c 300000 /dev/urandom > $out/blob",
    nix,
  );
  const app = await buildPath(
    `gc-${tag}-app`,
    "mkdir -p $out; echo $lib > $out/lib; head -c 100000 /dev/urandom > $out/own",
    nix,
    { deps: { lib } },
  );
  return { top: app, paths: [app, lib] };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("gc --max-age / --max-size: closures, pins, LRU, freed bytes, real Nix", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  try {
    const key = await makeKey(tmp.path, "gc-test-1", env);
    const [pinned, a, b, c] = [
      await smallClosure("pinned", nix),
      await smallClosure("a", nix),
      await smallClosure("b", nix),
      await smallClosure("c", nix),
    ];
    const stored = new Map<string, number>();
    const imp = async (cl: { top: string }) => {
      const r = await arca(["import-closure", "--json", "--signing-key", key.secret, cl.top], {
        env,
      });
      assert.equal(r.code, 0, r.stderr);
      for (const line of r.stdout.trim().split("\n")) {
        const o = JSON.parse(line);
        stored.set(o.path, o.storedBytes);
      }
    };
    const status = async () => JSON.parse((await arca(["status", "--json"], { env })).stdout);
    await imp(pinned);
    await imp(a);
    const tA = Date.now();
    await sleep(2500);
    await imp(b);
    await sleep(1200);
    await imp(c);
    assert.equal((await arca(["pin", pinned.top], { env })).code, 0);
    assert.match((await arca(["pins"], { env })).stdout, new RegExp(pinned.top.slice(11)));

    // Download b (narinfos and NARs): its access time is now the latest.
    const server = await startServer([], env);
    try {
      for (const p of b.paths) {
        const r = await fetch(`${server.url}/${p.slice(11, 43)}.narinfo`);
        const text = await r.text();
        assert.equal(r.status, 200);
        const nar = await fetch(`${server.url}/${/^URL: (.*)$/m.exec(text)![1]}`);
        await nar.arrayBuffer();
      }
    } finally {
      await server.stop(); // flushes the access times
    }

    const bad = await arca(["gc", "--max-age", "3x"], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /30d, 24h, 1h30m/);

    // --max-age: only a (older than the cutoff, never downloaded); pinned survives.
    const age = `${Math.ceil((Date.now() - tA) / 1000) - 1}s`;
    const dry = await arca(["gc", "--max-age", age, "--grace", "0s", "--dry-run"], { env });
    assert.equal(dry.code, 0, dry.stderr);
    const planned = dry.stdout.split("\n").filter((l) => l.startsWith("would remove"));
    assert.deepEqual(planned.map((l) => l.split(" ")[2]).sort(), [...a.paths].sort());
    const s0 = await status();
    const g1 = await arca(["gc", "--max-age", age, "--grace", "0s"], { env });
    assert.equal(g1.code, 0, g1.stderr);
    const s1 = await status();
    assert.equal(s1.paths, s0.paths - 2);
    const aStored = a.paths.reduce((n, p) => n + stored.get(p)!, 0);
    assert.ok(aStored > 300_000, `a stored ${aStored}`);
    assert.equal(s0.storedBytes - s1.storedBytes, aStored, "stored bytes fell by a's bytes");

    // --max-size (bytes on disk, as du -sb counts): room for all but c's packs, and some slack
    // for the database and manifests (far less than b's ~400 KB): b was used last, c goes.
    const cStored = c.paths.reduce((n, p) => n + stored.get(p)!, 0);
    const limit = (await diskShot(`${tmp.path}/cache`)).total - cStored + 100_000;
    const g2 = await arca(["gc", "--max-size", `${limit}`, "--grace", "0s"], { env });
    assert.equal(g2.code, 0, g2.stderr);
    assert.ok((await diskShot(`${tmp.path}/cache`)).total <= limit);
    const s2 = await status();
    assert.equal(s1.storedBytes - s2.storedBytes, cStored);
    const left = JSON.parse((await arca(["list", "--json"], { env })).stdout)
      .map((i: { storePath: string }) => i.storePath).sort();
    assert.deepEqual(left, [...pinned.paths, ...b.paths].sort());
    const audit = await arca(["audit", "--json"], { env });
    assert.equal(audit.stdout.split("\n").filter((l) => l.includes("GarbageCollect")).length, 2);
    const verify = await arca(["verify"], { env });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);

    // A real Nix substitutes what is listed; what went is gone.
    const server2 = await startServer([], env);
    try {
      await deleteStorePaths([...pinned.paths, ...b.paths, ...a.paths, ...c.paths], nix);
      for (const top of [pinned.top, b.top]) {
        await runOk("nix-store", [
          "-r",
          top,
          "--option",
          "substituters",
          server2.url,
          "--option",
          "trusted-public-keys",
          key.pub,
        ], { env: nix });
      }
      for (const p of [...a.paths, ...c.paths]) {
        assert.equal((await fetch(`${server2.url}/${p.slice(11, 43)}.narinfo`)).status, 404);
      }
      const miss = await substitute([c.top], server2.url, key.pub, nix);
      assert.notEqual(miss.code, 0);
    } finally {
      await server2.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});
