/**
 * The filesystem backend (the flat `nix copy --to file://` layout) with its
 * files in S3, end to end on a real Ceph RGW (tests/_rgw.ts) with a real Nix:
 * import-closure puts `<hash>.narinfo`, `nar/…` and `nix-cache-info` in the
 * bucket; Nix substitutes through `arca serve` with require-sigs; a ranged
 * GET; a `nix copy` push; `sign`; a SIGKILL in the middle of a NAR's
 * multipart upload (no narinfo; gc aborts the upload and removes an
 * unreferenced object); gc --max-age over listings of 2 keys a page, taking
 * the paths' listings and build logs with them; the post-build hook's path
 * and build log; verify finds a truncated NAR object; two storages for this
 * backend are refused.
 * Ignored when radosgw is missing.
 */
import assert from "node:assert/strict";
import { S3BlobStore } from "../lib/s3/s3_blob_store.ts";
import { arca, buildPath, deleteStorePaths, nixEnv, run, runOk, tempDir } from "./_run.ts";
import { startServer, touchNarinfo } from "./_serve.ts";
import { arcaEnv, buildClosure, makeKey, substitute } from "./_cache_fixture.ts";
import { freshStore, killDuringUpload, rgw, RGW_MISSING, storeOptions } from "./_rgw.ts";
import { BlobFlatFiles } from "../lib/store/flat_files.ts";

const TOKEN = "s3-flat-push-token";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function keys(store: S3BlobStore, dir: string): Promise<string[]> {
  return (await Array.fromAsync(store.list(dir))).map((o) => o.key);
}

const narinfoKeys = async (s: S3BlobStore) =>
  (await keys(s, "")).filter((k) => k.endsWith(".narinfo"));

Deno.test({
  name:
    "filesystem backend on s3 (ceph rgw): import, substitute, range, push, sign, SIGKILL, gc, verify",
  ignore: RGW_MISSING !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await rgw();
    const tmp = await tempDir();
    const nix = await nixEnv();
    const prefix = `flat-${crypto.randomUUID().slice(0, 8)}/`;
    const bucket = new S3BlobStore(storeOptions(server, prefix));
    const storage = (name: string, p: string) => [
      "[[storages]]",
      `name = "${name}"`,
      'type = "s3"',
      `endpoint = "${server.endpoint}"`,
      `bucket = "${server.bucket}"`,
      `prefix = "${p}"`,
    ];
    const config = `${tmp.path}/config.toml`;
    await Deno.writeTextFile(
      config,
      ['backend = "filesystem"', `upload_tokens = ["${TOKEN}"]`, ...storage("rgw", prefix), ""]
        .join("\n"),
    );
    const env = {
      ...arcaEnv(nix, tmp.path),
      ARCA_CONFIG: config,
      ARCA_S3_ACCESS_KEY_ID: server.accessKeyId,
      ARCA_S3_SECRET_ACCESS_KEY: server.secretAccessKey,
      ARCA_S3_PAGE_SIZE: "2",
    };
    const arcaOk = async (args: string[]) => {
      const r = await arca(args, { env });
      assert.equal(r.code, 0, `arca ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    try {
      const key = await makeKey(tmp.path, "s3-flat-1", env);
      // 20 MB of random data: its NAR goes up as a multipart upload (16 MiB threshold).
      const closure = await buildClosure(nix, 20_000_000);
      await arcaOk(["import-closure", "--signing-key", key.secret, closure.top]);
      assert.equal((await narinfoKeys(bucket)).length, closure.paths.length);
      assert.equal((await keys(bucket, "nar/")).length, closure.paths.length);
      const cacheInfo = new TextDecoder().decode(await bucket.get("nix-cache-info"));
      assert.match(cacheInfo, /^StoreDir: \/nix\/store$/m);
      const localNars = [...Deno.readDirSync(`${tmp.path}/cache`)].filter((e) =>
        e.name === "nar" || e.name.endsWith(".narinfo")
      );
      assert.deepEqual(localNars, [], "no flat file in the cache dir");
      const st = JSON.parse(await arcaOk(["status", "--json"]));
      assert.equal(st.backend, "filesystem");
      assert.equal(st.paths, closure.paths.length);
      assert.ok(st.fileBytes > 20_000_000, JSON.stringify(st));
      assert.equal(st.storages[0].kind, "s3");
      assert.equal(st.storages[0].where, `s3://${server.bucket}/${prefix}`);

      // A real Nix substitutes the closure from the bucket, signatures required.
      const serve = await startServer([], env);
      try {
        await deleteStorePaths(closure.paths, nix);
        const sub = await substitute([closure.top], serve.url, key.pub, nix);
        assert.equal(sub.code, 0, sub.stderr);
        assert.equal(
          (await runOk(`${closure.top}/hello`, [], { env: nix })).trim(),
          "hello from arca",
        );
        assert.equal((await Deno.stat(`${closure.top}/big`)).size, 20_000_000);

        // A range request is a ranged GET on the object: the same bytes.
        const info = await (await fetch(`${serve.url}/${closure.top.slice(11, 43)}.narinfo`))
          .text();
        const url = /^URL: (.*)$/m.exec(info)![1];
        const part = await fetch(`${serve.url}/${url}`, { headers: { range: "bytes=10-109" } });
        assert.equal(part.status, 206);
        const got = new Uint8Array(await part.arrayBuffer());
        assert.deepEqual(got, await bucket.readInto(url, 10, new Uint8Array(100)));

        // nix copy pushes a new path: its narinfo and NAR land in the bucket.
        const pushed = await buildPath(
          "s3-flat-pushed",
          "mkdir -p $out; head -c 300000 /dev/urandom > $out/blob",
          nix,
        );
        const to = `${
          serve.url.replace("http://", `http://u:${TOKEN}@`)
        }?secret-key=${key.secret}&write-nar-listing=1`;
        const copy = await run("nix", ["copy", "--to", to, pushed], { env: nix });
        assert.equal(copy.code, 0, copy.stderr);
        assert.ok((await bucket.head(`${pushed.slice(11, 43)}.narinfo`)) !== undefined);
        assert.equal((await keys(bucket, "nar/")).length, closure.paths.length + 1);
        // Its listing is an object of the bucket, served from there.
        const ph = pushed.slice(11, 43);
        assert.match(new TextDecoder().decode(await bucket.get(`${ph}.ls`)), /"version":1/);
        const ls = await fetch(`${serve.url}/${ph}.ls`);
        assert.equal(ls.status, 200);
        assert.match(await ls.text(), /"blob"/);
        // A build log pushed as `nix store copy-log` does: `log/<drv>` in the bucket.
        const drv = `${"d".repeat(32)}-s3-flat-pushed.drv`;
        const auth = { authorization: `Basic ${btoa(`u:${TOKEN}`)}` };
        const put = await fetch(`${serve.url}/log/${drv}`, {
          method: "PUT",
          headers: auth,
          body: "building s3-flat-pushed\n",
        });
        assert.equal(put.status, 200, await put.text());
        assert.equal(
          new TextDecoder().decode(await bucket.get(`log/${drv}`)),
          "building s3-flat-pushed\n",
        );
        const log = await fetch(`${serve.url}/log/${drv}`);
        assert.equal(log.status, 200);
        assert.equal(await log.text(), "building s3-flat-pushed\n");
        await bucket.put(`log/${drv}`, new TextEncoder().encode("changed in the bucket\n"));
        assert.equal(
          await (await fetch(`${serve.url}/log/${drv}`)).text(),
          "changed in the bucket\n",
        );
        for (const dir of ["logs", "listings"]) {
          const local = await Array.fromAsync(Deno.readDir(`${tmp.path}/cache/${dir}`)).catch(
            () => [],
          );
          assert.deepEqual(local, [], `nothing in the cache dir's ${dir}/`);
        }
        await deleteStorePaths([pushed], nix);
        const again = await substitute([pushed], serve.url, key.pub, nix);
        assert.equal(again.code, 0, again.stderr);
      } finally {
        await serve.stop();
      }

      // sign rewrites the narinfo objects with a second signature.
      const key2 = await makeKey(tmp.path, "s3-flat-2", env);
      await arcaOk(["sign", "--key", key2.secret, "--all"]);
      const signed = new TextDecoder().decode(
        await bucket.get(`${closure.top.slice(11, 43)}.narinfo`),
      );
      assert.match(signed, /^Sig: s3-flat-1:/m);
      assert.match(signed, /^Sig: s3-flat-2:/m);

      const v = JSON.parse(await arcaOk(["verify", "--json"]));
      assert.equal(v.problems.length, 0, JSON.stringify(v.problems));
      assert.equal(v.narFiles, closure.paths.length + 1);
      assert.ok(v.narBytes > 20_000_000);

      // SIGKILL while a 30 MB NAR is going up in parts: no narinfo names it.
      const victim = await buildPath(
        "s3-flat-victim",
        "mkdir -p $out; head -c 30000000 /dev/urandom > $out/blob",
        nix,
      );
      const pending = await killDuringUpload(
        bucket,
        "nar/",
        ["import", "--signing-key", key.secret, victim],
        env,
      );
      assert.equal(pending, 1, "caught the import in its multipart upload");
      assert.equal(await bucket.head(`${victim.slice(11, 43)}.narinfo`), undefined);
      assert.equal(!(await arcaOk(["list"])).includes(victim.slice(11, 43)), true);
      assert.equal((await keys(bucket, "nar/")).length, closure.paths.length + 1);

      // An object no narinfo names (as a crash between NAR and narinfo leaves).
      const orphan = `nar/${"0".repeat(52)}.nar.zst`;
      await bucket.put(orphan, new Uint8Array(1000));
      await sleep(1100);
      // Within the grace period (RGW's Initiated time is read) the upload stays.
      const gc0 = JSON.parse(await arcaOk(["gc", "--grace", "1h", "--json"]));
      assert.equal(gc0.sweep.uploadsAborted, 0, JSON.stringify(gc0.sweep));
      assert.equal((await Array.fromAsync(bucket.pendingUploads("nar/"))).length, 1);
      const gc1 = JSON.parse(await arcaOk(["gc", "--grace", "0s", "--json"]));
      assert.equal(gc1.sweep.uploadsAborted, 1, JSON.stringify(gc1.sweep));
      assert.equal(gc1.sweep.narFiles, 1, JSON.stringify(gc1.sweep));
      assert.equal(gc1.paths.length, 0, "nothing published goes");
      assert.deepEqual(await Array.fromAsync(bucket.pendingUploads("nar/")), []);
      assert.equal(await bucket.head(orphan), undefined);
      assert.equal((await keys(bucket, "nar/")).length, closure.paths.length + 1);

      // gc --max-age: the closure (imported first) goes, the pushed path stays;
      // listings come in pages of 2 and deletes in batches of 2. The top's
      // listing and build log (as an upload writes them) go with it, and so
      // does the log pushed above, of a derivation no cached path names: it
      // is older than the max-age.
      const topLs = `${closure.top.slice(11, 43)}.ls`;
      const topDrv = (await runOk("nix-store", ["-q", "--deriver", closure.top], { env: nix }))
        .trim().slice(11);
      await bucket.put(topLs, new TextEncoder().encode('{"version":1,"root":{}}'));
      await bucket.put(`log/${topDrv}`, new TextEncoder().encode("building the top\n"));
      await sleep(1500);
      // A narinfo hit on the pushed path makes it recent.
      await touchNarinfo(env, await pushedHash());
      const gc2 = JSON.parse(await arcaOk(["gc", "--max-age", "2s", "--grace", "0s", "--json"]));
      assert.equal(gc2.paths.length, closure.paths.length, JSON.stringify(gc2.paths));
      assert.deepEqual(await narinfoKeys(bucket), [`${await pushedHash()}.narinfo`]);
      assert.equal((await keys(bucket, "nar/")).length, 1, "only the pushed path's NAR");
      assert.ok(gc2.space.fits);
      assert.equal(gc2.sweep.sideFiles, 3, JSON.stringify(gc2.sweep));
      assert.equal(await bucket.head(topLs), undefined);
      assert.equal(await bucket.head(`log/${topDrv}`), undefined);
      assert.ok(await bucket.head(`${await pushedHash()}.ls`), "the pushed path's listing stays");
      assert.equal(await bucket.head(`log/${"d".repeat(32)}-s3-flat-pushed.drv`), undefined);

      // --max-size bounds this cache's bytes in the bucket.
      const used = (await Array.fromAsync(bucket.list(""))).reduce((n, o) => n + o.size, 0);
      const gc3 = JSON.parse(await arcaOk(["gc", "--max-size", String(used), "--json"]));
      assert.equal(gc3.paths.length, 0);
      assert.equal(gc3.space.before, used, JSON.stringify(gc3.space));

      // The post-build hook: the output's narinfo and NAR, and its build log, in the bucket.
      const hooked = await buildPath(
        "s3-flat-hooked",
        "echo building-s3-flat-hooked; echo hooked > $out",
        nix,
      );
      const hookedDrv = (await runOk("nix-store", ["-q", "--deriver", hooked], { env: nix }))
        .trim();
      const hook = await arca(["hook"], {
        env: { ...env, OUT_PATHS: hooked, DRV_PATH: hookedDrv },
      });
      assert.equal(hook.code, 0, hook.stderr);
      assert.match(hook.stderr, /1 imported, 0 already cached, 0 failed/);
      assert.ok(await bucket.head(`${hooked.slice(11, 43)}.narinfo`), "the hooked path's narinfo");
      assert.match(
        new TextDecoder().decode(await bucket.get(`log/${hookedDrv.slice(11)}`)),
        /building-s3-flat-hooked/,
      );

      // verify finds a truncated NAR object.
      const [narKey] = await keys(bucket, "nar/");
      const whole = (await bucket.get(narKey))!;
      await bucket.put(narKey, whole.subarray(0, whole.length - 100));
      const bad = await arca(["verify", "--json"], { env });
      assert.notEqual(bad.code, 0);
      const problems = JSON.parse(bad.stdout).problems as { subject: string; message: string }[];
      assert.equal(problems.length, 1, bad.stdout);
      assert.equal(problems[0].subject, narKey);

      // Two storages for the filesystem backend: a clear error, nothing opened.
      await Deno.writeTextFile(
        config,
        [
          'backend = "filesystem"',
          ...storage("rgw", prefix),
          ...storage("rgw2", `other-${prefix}`),
          "",
        ].join("\n"),
      );
      const two = await arca(["status"], { env });
      assert.notEqual(two.code, 0);
      assert.match(two.stderr, /backend = "filesystem" keeps its files in exactly one storage/);
      assert.match(two.stderr, /"rgw", "rgw2"/);
    } finally {
      await tmp.cleanup();
    }

    async function pushedHash(): Promise<string> {
      const rows = JSON.parse(await arcaOk(["list", "--json"])) as { storePath: string }[];
      return rows.find((r) => r.storePath.includes("s3-flat-pushed"))!.storePath.slice(11, 43);
    }
  },
});

Deno.test({
  name: "filesystem backend on s3: narinfos listed with a delimiter, other caches' keys not walked",
  ignore: RGW_MISSING !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // Pages of 1 key: a request per key or rolled-up prefix the listing sees.
    const store = await freshStore({ pageSize: 1 });
    const a = `${"a".repeat(32)}.narinfo`, b = `${"b".repeat(32)}.narinfo`;
    for (const k of [a, b, "nix-cache-info", "nar/x.nar", "log/y.drv"]) {
      await store.put(k, new Uint8Array(1));
    }
    // A [[caches]] entry's keys: 10 objects under caches/other/.
    for (let i = 0; i < 10; i++) await store.put(`caches/other/${i}.narinfo`, new Uint8Array(1));
    const names = (await Array.fromAsync(new BlobFlatFiles(store).narinfos())).map((f) => f.name);
    assert.deepEqual(names, [a, b]);
    // 3 keys + 3 prefixes (caches/, log/, nar/), a page each, and the last page: no caches/ key.
    const lists = store.counts.get("ListObjectsV2") ?? 0;
    assert.ok(lists <= 7, `${lists} ListObjectsV2 requests`);
  },
});
