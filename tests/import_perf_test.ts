/**
 * Batched `import-closure` (lib/store/import_batch.ts) with the real Nix: many
 * paths share packs, fsyncs, KV commits and one lease, and still publish
 * every path after its references, store a chunk shared across paths once,
 * and fail only a damaged path and what depends on it.
 */
import assert from "node:assert/strict";
import { arca, buildPath, deleteStorePaths, nixEnv, runOk, tempDir } from "./_run.ts";
import { arcaEnv } from "./_cache_fixture.ts";
import { MetaStore } from "../lib/kv/meta_store.ts";
import { K } from "../lib/kv/keys.ts";

const SHARED = 2 * 1024 * 1024;

/** A chain of `n` paths, each holding a copy of `shared` and referring to the one before. */
async function chain(
  n: number,
  shared: string,
  nix: Record<string, string>,
  tag: string,
): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const script = `set -e; mkdir -p $out; cp ${shared} $out/payload; echo ${tag}-${i} > $out/own` +
      (i > 0 ? "; echo $prev > $out/ref" : "");
    paths.push(
      await buildPath(`arca-batch-${tag}-${i}`, script, nix, {
        deps: i > 0 ? { prev: paths[i - 1] } : {},
      }),
    );
  }
  return paths;
}

async function sharedFile(dir: string): Promise<string> {
  const p = `${dir}/shared.bin`;
  const bytes = new Uint8Array(SHARED);
  for (let o = 0; o < SHARED; o += 65536) crypto.getRandomValues(bytes.subarray(o, o + 65536));
  await Deno.writeFile(p, bytes, { mode: 0o644 });
  await Deno.chmod(dir, 0o755);
  return p;
}

Deno.test("import-closure of a chain: every path once, shared chunks stored once, lease dropped", async () => {
  const tmp = await tempDir("arca-batch-");
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_BACKEND: "kv" };
  let paths: string[] = [];
  try {
    paths = await chain(10, await sharedFile(tmp.path), nix, crypto.randomUUID().slice(0, 8));
    const top = paths.at(-1)!;
    const r = await arca(["import-closure", "--json", "--compression", "zstd", top], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\b10 imported, 0 already cached, 0 failed/);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    // Reported (and published) references first.
    assert.deepEqual(lines.map((l) => l.path), paths);

    const st = JSON.parse((await arca(["status", "--json"], { env })).stdout);
    assert.equal(st.paths, 10);
    // Random data does not compress: ten copies are served, about one is stored.
    assert.ok(st.fileBytes > 10 * SHARED, `fileBytes ${st.fileBytes}`);
    assert.ok(st.storedBytes < 2 * SHARED, `storedBytes ${st.storedBytes} (dedup across paths)`);

    const v = await arca(["verify"], { env });
    assert.equal(v.code, 0, v.stdout + v.stderr);

    const meta = await MetaStore.open(`${tmp.path}/cache/db`);
    try {
      const leases = [];
      for await (const l of meta.scan(K.leasePrefix)) leases.push(l);
      assert.deepEqual(leases, [], "the run's lease is dropped");
    } finally {
      meta.close();
    }
    assert.deepEqual([...Deno.readDirSync(`${tmp.path}/cache/tmp`)], [], "no temporary files left");

    const again = await arca(["import-closure", top], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /\b0 imported, 10 already cached, 0 failed/);
  } finally {
    if (paths.length) await deleteStorePaths(paths, nix).catch(() => {});
    await tmp.cleanup();
  }
});

Deno.test("a damaged path in a batch fails with its dependents; the rest is published", async () => {
  const tmp = await tempDir("arca-batch-bad-");
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_BACKEND: "kv" };
  const paths: string[] = [];
  try {
    const shared = await sharedFile(tmp.path);
    const tag = crypto.randomUUID().slice(0, 8);
    const left = await chain(3, shared, nix, `${tag}-a`);
    const right = await chain(3, shared, nix, `${tag}-b`);
    paths.push(...left, ...right);
    const top = await buildPath(
      `arca-batch-${tag}-top`,
      `mkdir $out; echo $l > $out/l; echo $r > $out/r`,
      nix,
      { deps: { l: left[2], r: right[2] } },
    );
    paths.push(top);
    // The store is writable as root: change a file behind Nix's back, so
    // its NAR no longer hashes to what Nix recorded.
    await runOk("chmod", ["u+w", left[1], `${left[1]}/own`]);
    await Deno.writeTextFile(`${left[1]}/own`, "changed\n", { append: true });

    const r = await arca(["import-closure", "--json", top], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refusing .*-a-1: its NAR hashes to/);
    assert.match(r.stderr, /\b4 imported, 0 already cached, 3 failed/);
    const imported = r.stdout.trim().split("\n").map((l) => JSON.parse(l).path).sort();
    assert.deepEqual(imported, [left[0], ...right].sort());

    const v = await arca(["verify"], { env });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.deepEqual([...Deno.readDirSync(`${tmp.path}/cache/tmp`)], [], "no temporary files left");
  } finally {
    if (paths.length) await deleteStorePaths(paths, nix).catch(() => {});
    await tmp.cleanup();
  }
});

Deno.test("a stored chunk found damaged is stored anew by the next import", async () => {
  const tmp = await tempDir("arca-batch-restore-");
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_BACKEND: "kv" };
  const paths: string[] = [];
  try {
    const shared = await sharedFile(tmp.path);
    const tag = crypto.randomUUID().slice(0, 8);
    const [first] = await chain(1, shared, nix, `${tag}-a`);
    const [second] = await chain(1, shared, nix, `${tag}-b`);
    paths.push(first, second);
    assert.equal((await arca(["import", "--compression", "zstd", first], { env })).code, 0);

    // Flip bytes in the middle of the only pack: inside the shared file's chunks.
    const packs = [...Deno.readDirSync(`${tmp.path}/cache/packs`)].map((e) => e.name);
    assert.equal(packs.length, 1);
    const pack = await Deno.open(`${tmp.path}/cache/packs/${packs[0]}`, {
      read: true,
      write: true,
    });
    const size = (await pack.stat()).size;
    await pack.seek(Math.floor(size / 2), Deno.SeekMode.Start);
    await pack.write(new Uint8Array(64).fill(0xa5));
    pack.close();

    const r = await arca(["import-closure", "--compression", "zstd", second], { env });
    assert.equal(r.code, 0, r.stderr);

    // Only the first path's NAR still refers to the damaged copy: the second
    // stored its own (a verify problem naming it would mean it reused it).
    const list = JSON.parse((await arca(["list", "--json"], { env })).stdout) as {
      storePath: string;
      url: string;
    }[];
    // "nar/<FileHash>.nar.zst" names the NAR as verify does: "nar/<FileHash>".
    const url = (p: string) => list.find((i) => i.storePath === p)!.url.split(".")[0];
    const v = await arca(["verify"], { env });
    assert.match(v.stdout + v.stderr, /: 1 problem$/m);
    assert.match(v.stdout + v.stderr, new RegExp(`${url(first)}: chunk \\d+ .* is damaged`));
    assert.doesNotMatch(v.stdout + v.stderr, new RegExp(url(second)));
  } finally {
    if (paths.length) await deleteStorePaths(paths, nix).catch(() => {});
    await tmp.cleanup();
  }
});
