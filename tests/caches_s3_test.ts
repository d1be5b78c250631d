/**
 * `[[caches]]` entries sharing an S3 storage with the default cache, on the
 * real Ceph RGW (tests/_rgw.ts): each cache's packs and manifests go under
 * its own key prefix (`<prefix>caches/<name>/`), so gc of one never deletes
 * another's objects, and every cache still verifies after the others'
 * gc. An entry without `storages` keeps its packs in its own directory.
 */
import assert from "node:assert/strict";
import { arca, buildPath, nixEnv, tempDir } from "./_run.ts";
import { arcaEnv, makeKey } from "./_cache_fixture.ts";
import { S3BlobStore } from "../lib/s3/s3_blob_store.ts";
import { rgw, RGW_MISSING, storeOptions } from "./_rgw.ts";

async function keys(store: S3BlobStore, dir: string): Promise<string[]> {
  return (await Array.fromAsync(store.list(dir))).map((o) => o.key);
}

Deno.test({
  name: "caches sharing an S3 storage keep their objects apart through gc",
  ignore: RGW_MISSING !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await rgw();
    const tmp = await tempDir();
    const nix = await nixEnv();
    const prefix = `caches-${crypto.randomUUID().slice(0, 8)}/`;
    const bucket = new S3BlobStore(storeOptions(server, prefix));
    const config = `${tmp.path}/config.toml`;
    await Deno.writeTextFile(
      config,
      [
        'cache_storages = ["rgw"]',
        "[[storages]]",
        'name = "rgw"',
        'type = "s3"',
        `endpoint = "${server.endpoint}"`,
        `bucket = "${server.bucket}"`,
        `prefix = "${prefix}"`,
        "",
        "[[caches]]",
        'name = "team"',
        'storages = ["rgw"]',
        "",
        "[[caches]]",
        'name = "own"',
        "",
      ].join("\n"),
    );
    const env = {
      ...arcaEnv(nix, tmp.path),
      ARCA_CONFIG: config,
      ARCA_S3_ACCESS_KEY_ID: server.accessKeyId,
      ARCA_S3_SECRET_ACCESS_KEY: server.secretAccessKey,
    };
    const ok = async (args: string[]) => {
      const r = await arca(args, { env });
      assert.equal(r.code, 0, `arca ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    try {
      const key = await makeKey(tmp.path, "caches-s3-1", env);
      const top = await buildPath(
        "caches-s3",
        "mkdir -p $out; head -c 3000000 /dev/urandom > $out/blob",
        nix,
      );
      for (const c of [[], ["--cache", "team"], ["--cache", "own"]]) {
        await ok([...c, "import-closure", "--signing-key", key.secret, top]);
      }
      const rootPacks = await keys(bucket, "packs/");
      const teamPacks = await keys(bucket, "caches/team/packs/");
      assert.equal(rootPacks.length, 1, rootPacks.join(" "));
      assert.equal(teamPacks.length, 1, teamPacks.join(" "));
      assert.equal((await keys(bucket, "caches/team/manifests/")).length, 1);
      assert.deepEqual(await keys(bucket, "caches/own/"), []);
      const own = [...Deno.readDirSync(`${tmp.path}/cache/caches/own/packs`)];
      assert.equal(own.length, 1, "own keeps its pack in its own directory");
      const team = JSON.parse(await ok(["--cache", "team", "status", "--json"]));
      const rgwUse = team.storages.find((s: { name: string }) => s.name === "rgw");
      assert.match(rgwUse.where, new RegExp(`${prefix}caches/team/$`));

      // The default cache's gc removes its path and its pack; team's and own's stay whole.
      await new Promise((r) => setTimeout(r, 1100));
      assert.match(await ok(["gc", "--max-age", "1s", "--grace", "0s"]), /removed 1 paths/);
      assert.deepEqual(await keys(bucket, "packs/"), []);
      assert.deepEqual(await keys(bucket, "caches/team/packs/"), teamPacks);
      for (const c of ["team", "own"]) {
        assert.match(await ok(["--cache", c, "verify"]), /\b1 paths?\b/);
      }
      // And team's gc leaves own alone.
      assert.match(
        await ok(["--cache", "team", "gc", "--max-age", "1s", "--grace", "0s"]),
        /removed 1 paths/,
      );
      assert.deepEqual(await keys(bucket, "caches/team/"), []);
      await ok(["--cache", "own", "verify"]);
      assert.equal(JSON.parse(await ok(["--cache", "own", "status", "--json"])).paths, 1);
    } finally {
      await tmp.cleanup();
    }
  },
});
