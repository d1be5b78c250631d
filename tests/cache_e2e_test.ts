/**
 * The whole read path against a real Nix 2.8: import a closure signed,
 * serve it, delete it from the local store and substitute it back with
 * signatures required; a wrong trusted key is refused. Run for the kv
 * backend with zstd and xz, and for the filesystem backend.
 */
import assert from "node:assert/strict";
import { arca, deleteStorePaths, nixEnv, run, runOk, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import {
  arcaEnv,
  buildClosure,
  makeKey,
  narHashes,
  nixStoreVerify,
  substitute,
} from "./_cache_fixture.ts";

async function roundTrip(backend: "kv" | "filesystem", compression: "zstd" | "xz") {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  try {
    const key = await makeKey(tmp.path, `arca-test-${backend}-${compression}`, env);
    const other = await makeKey(tmp.path, "someone-else", env);
    const closure = await buildClosure(nix);
    assert.equal(closure.paths.length, 5);
    const before = await narHashes(closure.top, nix);

    const imp = await arca([
      "import-closure",
      "--signing-key",
      key.secret,
      "--compression",
      compression,
      closure.top,
    ], { env: { ...env, ARCA_BACKEND: backend } });
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stderr, /5 imported, 0 already cached, 0 failed/);
    // Importing again changes nothing.
    const again = await arca(["import-closure", closure.top], {
      env: { ...env, ARCA_BACKEND: backend },
    });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /0 imported, 5 already cached/);

    const server = await startServer([], { ...env, ARCA_BACKEND: backend });
    try {
      const verify = await nixStoreVerify(closure.top, server.url, key.pub, nix);
      assert.equal(verify.code, 0, verify.stderr);

      await deleteStorePaths(closure.paths, nix);
      for (const p of closure.paths) {
        assert.equal((await run("nix-store", ["--check-validity", p], { env: nix })).code, 1);
      }

      const refused = await substitute([closure.top], server.url, other.pub, nix);
      assert.notEqual(refused.code, 0, "a cache signed by another key must be refused");
      assert.match(refused.stderr, /signature|signed/);

      const ok = await substitute([closure.top], server.url, key.pub, nix);
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(await narHashes(closure.top, nix), before);
      const hello = await runOk(`${closure.top}/hello`, []);
      assert.equal(hello, "hello from arca\n");
    } finally {
      await server.stop();
    }
  } finally {
    await tmp.cleanup();
  }
}

Deno.test("kv backend, zstd: a real Nix substitutes a signed closure", () =>
  roundTrip("kv", "zstd"));
Deno.test("kv backend, xz: a real Nix substitutes a signed closure", () => roundTrip("kv", "xz"));
Deno.test("filesystem backend: a real Nix substitutes a signed closure", () =>
  roundTrip("filesystem", "zstd"));
