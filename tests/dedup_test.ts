/**
 * Deduplication across store paths, end to end: two paths built by the real
 * Nix that carry the same 20 MB random file (under different names, next to
 * different small files) are stored about once, and both still substitute
 * back, signed and byte-exact, from `arca serve`.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { arca, buildPath, deleteStorePaths, nixEnv, run, runOk, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv, makeKey, substitute } from "./_cache_fixture.ts";

const SHARED = 20_000_000;

interface PathInfo {
  path: string;
  narHash: string;
  narSize: number;
}

async function pathInfos(paths: string[], env: Record<string, string>): Promise<PathInfo[]> {
  const infos = JSON.parse(await runOk("nix", ["path-info", "--json", ...paths], { env }));
  return (infos as PathInfo[]).map(({ path, narHash, narSize }) => ({ path, narHash, narSize }))
    .sort((a, b) => a.path.localeCompare(b.path));
}

/** Writes `size` random bytes to `file`, 1 MiB at a time; returns their sha256 (hex). */
async function writeRandomFile(file: string, size: number): Promise<string> {
  const f = await Deno.open(file, { write: true, create: true, truncate: true });
  const h = createHash("sha256");
  try {
    for (let left = size; left > 0;) {
      const block = new Uint8Array(Math.min(left, 1 << 20));
      for (let o = 0; o < block.length; o += 65536) {
        crypto.getRandomValues(block.subarray(o, Math.min(o + 65536, block.length)));
      }
      h.update(block);
      for (let w = 0; w < block.length;) w += await f.write(block.subarray(w));
      left -= block.length;
    }
  } finally {
    f.close();
  }
  return h.digest("hex");
}

Deno.test("two paths sharing a 20 MB file are stored about once and both substitute back", async () => {
  const tmp = await tempDir("arca-dedup-");
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_BACKEND: "kv" };
  try {
    const key = await makeKey(tmp.path, "arca-dedup-test", env);
    const shared = `${tmp.path}/shared.bin`;
    const sharedSha = await writeRandomFile(shared, SHARED);
    // The sandbox is off, so the builders (running as a nixbld user) can copy
    // the file from the test's temp dir once it is readable to them.
    await Deno.chmod(tmp.path, 0o755);
    await Deno.chmod(shared, 0o644);
    const one = await buildPath(
      "arca-dedup-one",
      `set -e; mkdir -p $out; cp ${shared} $out/payload.bin; echo first > $out/a.txt`,
      nix,
    );
    const two = await buildPath(
      "arca-dedup-two",
      [
        "set -e",
        "mkdir -p $out/sub",
        `cp ${shared} $out/sub/copy-of-payload`,
        "echo second second > $out/b.txt",
        "head -c 5000 /dev/urandom > $out/noise",
      ].join("; "),
      nix,
    );
    const before = await pathInfos([one, two], nix);
    assert.notEqual(before[0].narHash, before[1].narHash);

    const t0 = performance.now();
    const imp = await arca(
      ["import", "--signing-key", key.secret, "--compression", "zstd", one, two],
      { env },
    );
    const importSecs = (performance.now() - t0) / 1000;
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stderr, /2 imported/);

    const st = await arca(["status", "--json"], { env });
    assert.equal(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout);
    console.log(
      `import ${importSecs.toFixed(1)} s; paths ${s.paths}, narBytes ${s.narBytes}, ` +
        `fileBytes ${s.fileBytes}, storedBytes ${s.storedBytes}, chunks ${s.chunks}, ` +
        `dedupRatio ${s.dedupRatio.toFixed(3)}`,
    );
    assert.equal(s.paths, 2);
    assert.equal(s.narBytes, before[0].narSize + before[1].narSize);
    // Random data does not compress: what clients download is about both copies...
    assert.ok(
      s.fileBytes > 2 * SHARED * 0.99 && s.fileBytes < 2 * SHARED * 1.05,
      "fileBytes ≈ 2 × 20 MB",
    );
    // ...while the disk holds about one.
    assert.ok(s.storedBytes >= SHARED * 0.99, "the shared file is stored at least once");
    assert.ok(s.storedBytes < 1.2 * SHARED, `storedBytes ${s.storedBytes} < 1.2 × 20 MB`);
    assert.ok(s.dedupRatio > 1.6, `dedupRatio ${s.dedupRatio} > 1.6`);

    await deleteStorePaths([one, two], nix);
    for (const p of [one, two]) {
      assert.equal((await run("nix-store", ["--check-validity", p], { env: nix })).code, 1);
    }

    const server = await startServer([], env);
    try {
      const t1 = performance.now();
      const sub = await substitute([one, two], server.url, key.pub, nix);
      assert.equal(sub.code, 0, sub.stderr);
      console.log(`substituted both in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    } finally {
      await server.stop();
    }
    assert.deepEqual(await pathInfos([one, two], nix), before);
    for (const f of [`${one}/payload.bin`, `${two}/sub/copy-of-payload`]) {
      const h = createHash("sha256").update(await Deno.readFile(f)).digest("hex");
      assert.equal(h, sharedSha, f);
    }
  } finally {
    await tmp.cleanup();
  }
});

for (const backend of ["kv", "filesystem"]) {
  Deno.test(`${backend} backend: a path holding the same file twice substitutes back`, async () => {
    const tmp = await tempDir("arca-repeat-");
    const nix = await nixEnv();
    const env = { ...arcaEnv(nix, tmp.path), ARCA_BACKEND: backend };
    let path: string | undefined;
    try {
      const key = await makeKey(tmp.path, "arca-repeat-test", env);
      // Chunks of the second copy repeat those of the first inside one NAR.
      path = await buildPath(
        `arca-repeat-${backend}-${crypto.randomUUID().slice(0, 8)}`,
        "set -e; mkdir $out; head -c 3000000 /dev/urandom > $out/a; cp $out/a $out/b; cp $out/a $out/c",
        nix,
      );
      const [before] = await pathInfos([path], nix);
      const imp = await arca(["import", "--signing-key", key.secret, path], { env });
      assert.equal(imp.code, 0, imp.stderr);
      const s = JSON.parse((await arca(["status", "--json"], { env })).stdout);
      // Served whole: three copies are downloaded.
      assert.ok(s.fileBytes > 3 * 3_000_000, `fileBytes ${s.fileBytes}`);
      // Stored about once: each of the two file boundaries costs the chunks around it until
      // the cut points fall in step again (random data: 0.1-0.8 MB measured, a few 256 KiB
      // chunks at most), far from the 9 MB of three copies.
      if (backend === "kv") assert.ok(s.storedBytes < 1.6 * 3_000_000, `stored ${s.storedBytes}`);
      const v = await arca(["verify"], { env });
      assert.equal(v.code, 0, v.stdout + v.stderr);

      await deleteStorePaths([path], nix);
      const server = await startServer([], env);
      try {
        const sub = await substitute([path], server.url, key.pub, nix);
        assert.equal(sub.code, 0, sub.stderr);
      } finally {
        await server.stop();
      }
      assert.deepEqual(await pathInfos([path], nix), [before]);
    } finally {
      await tmp.cleanup();
    }
  });
}
