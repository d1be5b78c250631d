/**
 * A cache whose packs and manifests live in S3, end to end, on a real Ceph
 * RGW (tests/_rgw.ts) with a real Nix: import-closure, substitution through
 * `arca serve`, a `nix copy` push, status per storage, verify, a SIGKILL in
 * the middle of a multipart upload (nothing visible half-written; gc aborts
 * the upload and removes the orphans), and gc --max-age over paginated
 * listings and batched deletes, closure-safe. Ignored when radosgw is missing.
 */
import assert from "node:assert/strict";
import { S3BlobStore } from "../lib/s3/s3_blob_store.ts";
import { arca, buildPath, deleteStorePaths, nixEnv, run, runOk, tempDir } from "./_run.ts";
import { startServer, touchNarinfo } from "./_serve.ts";
import { arcaEnv, buildClosure, makeKey, substitute } from "./_cache_fixture.ts";
import { killDuringUpload, rgw, RGW_MISSING, storeOptions } from "./_rgw.ts";

const TOKEN = "s3-push-token";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function keys(store: S3BlobStore, dir: string): Promise<string[]> {
  return (await Array.fromAsync(store.list(dir))).map((o) => o.key);
}

Deno.test({
  name: "s3 backend on ceph rgw: import, substitute, push, status, verify, SIGKILL mid-upload, gc",
  ignore: RGW_MISSING !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await rgw();
    const tmp = await tempDir();
    const nix = await nixEnv();
    const prefix = `e2e-${crypto.randomUUID().slice(0, 8)}/`;
    const bucket = new S3BlobStore(storeOptions(server, prefix));
    // The secret comes from a 0600 file, the access key from the environment.
    const secretFile = `${tmp.path}/s3.secret`;
    await Deno.writeTextFile(secretFile, `${server.secretAccessKey}\n`, { mode: 0o600 });
    const config = `${tmp.path}/config.toml`;
    await Deno.writeTextFile(
      config,
      [
        `upload_tokens = ["${TOKEN}"]`,
        "[[storages]]",
        'name = "rgw"',
        'type = "s3"',
        `endpoint = "${server.endpoint}"`,
        `bucket = "${server.bucket}"`,
        `prefix = "${prefix}"`,
        `secret_access_key_file = "${secretFile}"`,
        "",
      ].join("\n"),
    );
    const env = {
      ...arcaEnv(nix, tmp.path),
      ARCA_CONFIG: config,
      ARCA_S3_ACCESS_KEY_ID: server.accessKeyId,
      ARCA_S3_PAGE_SIZE: "2",
    };
    const outputs: string[] = [];
    const arcaOk = async (args: string[]) => {
      const r = await arca(args, { env });
      outputs.push(r.stdout, r.stderr);
      assert.equal(r.code, 0, `arca ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    try {
      const key = await makeKey(tmp.path, "s3-test-1", env);
      // 20 MB of random data: its pack goes up as a multipart upload (16 MiB threshold).
      const closure = await buildClosure(nix, 20_000_000);
      await arcaOk(["import-closure", "--signing-key", key.secret, closure.top]);
      const packs = await keys(bucket, "packs/");
      assert.ok(packs.length >= 1, "packs are in the bucket");
      assert.equal((await keys(bucket, "manifests/")).length, closure.paths.length);
      const localPacks = [...Deno.readDirSync(`${tmp.path}/cache/packs`)];
      assert.equal(localPacks.length, 0, "no pack in the cache dir");
      const st = JSON.parse(await arcaOk(["status", "--json"]));
      const rgwUsage = st.storages.find((s: { name: string }) => s.name === "rgw");
      assert.equal(rgwUsage.kind, "s3");
      assert.ok(rgwUsage.bytes > 20_000_000, JSON.stringify(st.storages));
      assert.equal(rgwUsage.packs, packs.length);

      // A real Nix substitutes the closure from the S3-backed cache.
      const serve = await startServer([], env);
      try {
        await deleteStorePaths(closure.paths, nix);
        const sub = await substitute([closure.top], serve.url, key.pub, nix);
        assert.equal(sub.code, 0, sub.stderr);
        assert.equal(
          (await runOk(`${closure.top}/hello`, [], { env: nix })).trim(),
          "hello from arca",
        );
        const big = await Deno.stat(`${closure.top}/big`);
        assert.equal(big.size, 20_000_000);

        // A range request is answered from S3 too.
        const info = await (await fetch(`${serve.url}/${closure.top.slice(11, 43)}.narinfo`))
          .text();
        const url = /^URL: (.*)$/m.exec(info)![1];
        const part = await fetch(`${serve.url}/${url}`, { headers: { range: "bytes=10-109" } });
        assert.equal(part.status, 206);
        assert.equal((await part.arrayBuffer()).byteLength, 100);

        // nix copy pushes a new path into the same cache; its pack goes to S3.
        const pushed = await buildPath(
          "s3-pushed",
          "mkdir -p $out; head -c 300000 /dev/urandom > $out/blob",
          nix,
        );
        const to = `${serve.url.replace("http://", `http://u:${TOKEN}@`)}?secret-key=${key.secret}`;
        const copy = await run("nix", ["copy", "--to", to, pushed], { env: nix });
        assert.equal(copy.code, 0, copy.stderr);
        assert.equal((await keys(bucket, "packs/")).length, packs.length + 1);
        await deleteStorePaths([pushed], nix);
        const again = await substitute([pushed], serve.url, key.pub, nix);
        assert.equal(again.code, 0, again.stderr);
      } finally {
        await serve.stop();
      }

      const v = JSON.parse(await arcaOk(["verify", "--json"]));
      assert.equal(v.problems.length, 0, JSON.stringify(v.problems));
      assert.ok(v.chunks > 100, `verify re-hashed ${v.chunks} chunks`);

      // SIGKILL while a 30 MB pack is going up in parts: nothing visible.
      const victim = await buildPath(
        "s3-victim",
        "mkdir -p $out; head -c 30000000 /dev/urandom > $out/blob",
        nix,
      );
      const listed = async () => (await arcaOk(["list"])).includes(victim.slice(11, 43));
      const pending = await killDuringUpload(
        bucket,
        "packs/",
        ["import", "--signing-key", key.secret, victim],
        env,
      );
      assert.equal(pending, 1, "caught the import in its multipart upload");
      const packsAfterKill = await keys(bucket, "packs/");
      assert.equal(packsAfterKill.length, packs.length + 1, "no pack of the killed import");
      assert.equal(await listed(), false, "the killed import published nothing");
      assert.equal((await Array.fromAsync(bucket.pendingUploads("packs/"))).length, 1);

      // gc: aborts the dead upload; nothing live goes.
      const gc1 = JSON.parse(await arcaOk(["gc", "--grace", "0s", "--json"]));
      assert.equal(gc1.sweep.uploadsAborted, 1, JSON.stringify(gc1.sweep));
      assert.deepEqual(await Array.fromAsync(bucket.pendingUploads("packs/")), []);
      assert.equal((await keys(bucket, "packs/")).length, packs.length + 1);

      // gc --max-age: the closure (imported first) goes, the pushed path stays;
      // listings come in pages of 2 and deletes in batches of 2.
      await sleep(1500);
      // A narinfo hit on the pushed path makes it recent.
      await touchNarinfo(env, await pushedHash());
      const gc2 = JSON.parse(await arcaOk(["gc", "--max-age", "2s", "--grace", "0s", "--json"]));
      assert.equal(gc2.paths.length, closure.paths.length, JSON.stringify(gc2.paths));
      const left = await arcaOk(["list"]);
      assert.equal(left.trim().split("\n").filter((l) => l.includes("/nix/store/")).length, 1);
      assert.equal((await keys(bucket, "packs/")).length, 1, "only the pushed path's pack");
      assert.equal((await keys(bucket, "manifests/")).length, 1);
      const v2 = JSON.parse(await arcaOk(["verify", "--json"]));
      assert.equal(v2.problems.length, 0, JSON.stringify(v2.problems));

      // No output of any command carried the secret.
      const cfg = await arcaOk(["config"]);
      assert.ok(!cfg.includes(server.secretAccessKey));
      for (const o of outputs) assert.ok(!o.includes(server.secretAccessKey), o);
    } finally {
      await tmp.cleanup();
    }

    async function pushedHash(): Promise<string> {
      const rows = JSON.parse(await arcaOk(["list", "--json"])) as { storePath: string }[];
      return rows.find((r) => r.storePath.includes("s3-pushed"))!.storePath.slice(11, 43);
    }
  },
});
