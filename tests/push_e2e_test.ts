/**
 * `nix copy --to http://u:TOKEN@…` into a real `arca serve`, then delete the
 * closure locally and substitute it back from Arca with signatures required:
 * the NarHashes must be identical. zstd (with a 50 MB file, a NAR listing and
 * a build log read back by `nix log`), xz and none, and into the filesystem
 * backend; pushing again uploads no NAR (counted in the audit log).
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

const TOKEN = "push-test-token";

async function auditCount(env: Record<string, string>, type: string): Promise<number> {
  const r = await arca(["audit", "--json"], { env });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l && JSON.parse(l).type === type).length;
}

async function pushRoundTrip(
  compression: string,
  bigBytes: number,
  extras: boolean,
  backend = "kv",
) {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_UPLOAD_TOKEN: TOKEN, ARCA_BACKEND: backend };
  const server = await startServer([], env);
  try {
    const key = await makeKey(tmp.path, `push-${compression}-1`, env);
    const closure = await buildClosure(nix, bigBytes);
    assert.equal(closure.paths.length, 5);
    const before = await narHashes(closure.top, nix);
    const to = `${server.url.replace("http://", `http://u:${TOKEN}@`)}?compression=${compression}` +
      `&secret-key=${key.secret}${extras ? "&write-nar-listing=1" : ""}`;

    const copy = await run("nix", ["copy", "--to", to, closure.top], { env: nix });
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(await auditCount(env, "UploadNar"), 5);
    assert.equal(await auditCount(env, "Upload"), 5);
    if (backend === "filesystem") {
      // Stored the way `nix copy --to file://` lays a cache out.
      const nars = [...Deno.readDirSync(`${tmp.path}/cache/nar`)].map((e) => e.name);
      assert.equal(nars.filter((n) => n.endsWith(".nar.zst")).length, 5, nars.join(" "));
    }

    // Again: every narinfo is there, so no NAR is uploaded.
    const again = await run("nix", ["copy", "--to", to, closure.top], { env: nix });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await auditCount(env, "UploadNar"), 5, "a re-push must upload no NAR");

    const drv = (await runOk("nix-store", ["-q", "--deriver", closure.top], { env: nix })).trim();
    if (extras) {
      const log = await run("nix", ["store", "copy-log", "--to", to, drv], { env: nix });
      assert.equal(log.code, 0, log.stderr);
      const hashPart = closure.top.slice(11, 43);
      const ls = await fetch(`${server.url}/${hashPart}.ls`);
      assert.equal(ls.status, 200);
      const listing = await ls.json();
      assert.equal(listing.version, 1);
      assert.equal(listing.root.type, "directory");
      assert.ok("hello" in listing.root.entries);
    }

    // Served in Arca's own form (zstd) with the pusher's signature still valid.
    const verify = await nixStoreVerify(closure.top, server.url, key.pub, nix);
    assert.equal(verify.code, 0, verify.stderr);

    await deleteStorePaths(closure.paths, nix);
    const ok = await substitute([closure.top], server.url, key.pub, nix);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(await narHashes(closure.top, nix), before);
    assert.equal(await runOk(`${closure.top}/hello`, []), "hello from arca\n");

    if (extras) {
      // `nix log` asks the narinfo for the Deriver, then GETs log/<drv>.
      const log = await run("nix", ["log", "--store", server.url, closure.top], { env: nix });
      assert.equal(log.code, 0, log.stderr);
      assert.match(log.stdout + log.stderr, /\S/);
      const direct = await fetch(`${server.url}/log/${drv.slice(11)}`);
      assert.equal(direct.status, 200);
      assert.equal(await direct.text(), log.stdout);
    }
  } finally {
    await server.stop();
    await tmp.cleanup();
  }
}

Deno.test("nix copy --to Arca with zstd, a NAR listing and a build log round-trips", () =>
  pushRoundTrip("zstd", 50_000_000, true));
Deno.test("nix copy --to Arca with xz round-trips", () => pushRoundTrip("xz", 2_000_000, false));
Deno.test("nix copy --to Arca with compression=none round-trips", () =>
  pushRoundTrip("none", 2_000_000, false));
Deno.test("nix copy --to Arca with compression=bzip2 round-trips", () =>
  pushRoundTrip("bzip2", 1_000_000, false));
Deno.test("nix copy --to Arca with the filesystem backend round-trips", () =>
  pushRoundTrip("zstd", 3_000_000, false, "filesystem"));
