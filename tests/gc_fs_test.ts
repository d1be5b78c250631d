/**
 * gc and verify on the filesystem backend (the `nix copy --to file://`
 * layout), end to end with a real Nix: `gc --max-age` removes exactly the old
 * unpinned closure (narinfos first, then its NAR files), leaves the pinned
 * and the new ones, deletes stray NAR files only after the grace period; a
 * real Nix substitutes what is left; `verify` is clean, then finds a damaged
 * NAR file and `--repair` takes it and its referrer out.
 */
import assert from "node:assert/strict";
import { arca, buildPath, deleteStorePaths, nixEnv, run, runOk, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv, makeKey } from "./_cache_fixture.ts";

async function closure(tag: string, nix: Record<string, string>) {
  const lib = await buildPath(
    `fsgc-${tag}-lib`,
    "mkdir -p $out; head -c 200000 /dev/urandom > $out/blob",
    nix,
  );
  const app = await buildPath(
    `fsgc-${tag}-app`,
    "mkdir -p $out; echo $lib > $out/lib; head -c 50000 /dev/urandom > $out/own",
    nix,
    { deps: { lib } },
  );
  return { top: app, lib, paths: [app, lib] };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function narFiles(cache: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const e of Deno.readDir(`${cache}/nar`)) {
    out.set(e.name, (await Deno.stat(`${cache}/nar/${e.name}`)).size);
  }
  return out;
}

Deno.test("filesystem backend: gc closure-safe with pins and grace, verify, real Nix", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_BACKEND: "filesystem" };
  const cache = `${tmp.path}/cache`;
  try {
    const key = await makeKey(tmp.path, "fsgc-1", env);
    const [old, pinned, fresh] = [
      await closure("old", nix),
      await closure("pinned", nix),
      await closure("fresh", nix),
    ];
    const imp = async (top: string) => {
      const r = await arca(["import-closure", "--signing-key", key.secret, top], { env });
      assert.equal(r.code, 0, r.stderr);
    };
    await imp(old.top);
    await imp(pinned.top);
    const tOld = Date.now();
    await sleep(2500);
    await imp(fresh.top);
    assert.equal((await arca(["pin", pinned.top], { env })).code, 0);
    assert.match((await arca(["pins"], { env })).stdout, new RegExp(pinned.top.slice(11)));

    // Which NAR files belong to the old closure (by the narinfo URLs).
    const urlOf = async (p: string) =>
      /^URL: nar\/(.*)$/m.exec(await Deno.readTextFile(`${cache}/${p.slice(11, 43)}.narinfo`))![1];
    const oldFiles = await Promise.all(old.paths.map(urlOf));
    // A stray NAR file (an upload whose narinfo never came).
    const strayOld = `${"1".repeat(52)}.nar.zst`;
    await Deno.writeFile(`${cache}/nar/${strayOld}`, new Uint8Array(7000));
    const filesBefore = await narFiles(cache);

    const status = async () => JSON.parse((await arca(["status", "--json"], { env })).stdout);
    const age = `${Math.ceil((Date.now() - tOld) / 1000) - 1}s`;
    const dry = await arca(["gc", "--max-age", age, "--grace", "0s", "--dry-run"], { env });
    assert.equal(dry.code, 0, dry.stderr);
    const planned = dry.stdout.split("\n").filter((l) => l.startsWith("would remove"))
      .map((l) => l.split(" ")[2]);
    assert.deepEqual(planned.sort(), [...old.paths].sort());
    assert.deepEqual(await narFiles(cache), filesBefore, "a dry run deletes nothing");

    const s0 = await status();
    const g = await arca(["gc", "--max-age", age, "--grace", "0s"], { env });
    assert.equal(g.code, 0, g.stderr);
    const s1 = await status();
    assert.equal(s1.paths, s0.paths - 2);
    const filesAfter = await narFiles(cache);
    const gone = [...filesBefore.keys()].filter((f) => !filesAfter.has(f)).sort();
    assert.deepEqual(gone, [...oldFiles, strayOld].sort());
    const freed = gone.reduce((n, f) => n + filesBefore.get(f)!, 0);
    assert.equal(s0.storedBytes - s1.storedBytes, freed, "stored bytes fell by the files deleted");
    const left = JSON.parse((await arca(["list", "--json"], { env })).stdout)
      .map((i: { storePath: string }) => i.storePath).sort();
    assert.deepEqual(left, [...pinned.paths, ...fresh.paths].sort());
    assert.match((await arca(["audit"], { env })).stdout, /GarbageCollect/);

    // A stray NAR file younger than the grace period stays; after it, it goes.
    const stray = `${"2".repeat(52)}.nar.zst`;
    await Deno.writeFile(`${cache}/nar/${stray}`, new Uint8Array(5000));
    assert.equal((await arca(["gc", "--grace", "10m"], { env })).code, 0);
    assert.ok((await narFiles(cache)).has(stray), "a young stray NAR waits for the grace period");
    assert.equal((await arca(["gc", "--grace", "0s"], { env })).code, 0);
    assert.ok(!(await narFiles(cache)).has(stray), "then it goes");
    assert.equal((await status()).paths, 4);

    const clean = await arca(["verify"], { env });
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /4 paths, 4 NAR files, .* all intact/);

    // A real Nix substitutes what is listed; the old closure is gone.
    const server = await startServer([], env);
    try {
      await deleteStorePaths([...old.paths, ...pinned.paths, ...fresh.paths], nix);
      const subst = (top: string) =>
        run("nix-store", [
          "-r",
          top,
          "--option",
          "substituters",
          server.url,
          "--option",
          "trusted-public-keys",
          key.pub,
        ], { env: nix });
      for (const top of [pinned.top, fresh.top]) {
        const r = await subst(top);
        assert.equal(r.code, 0, r.stderr);
      }
      await runOk("nix-store", ["--verify-path", pinned.top, fresh.top], { env: nix });
      assert.notEqual((await subst(old.top)).code, 0);
    } finally {
      await server.stop();
    }

    // Damage: a flipped byte in fresh's lib NAR file.
    const libFile = `${cache}/nar/${await urlOf(fresh.lib)}`;
    const bytes = await Deno.readFile(libFile);
    bytes[bytes.length >> 1] ^= 0xff;
    await Deno.writeFile(libFile, bytes);
    const bad = await arca(["verify"], { env });
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stdout, /problem: nar\/\S+: /);
    const fix = await arca(["verify", "--repair"], { env });
    assert.equal(fix.code, 0, fix.stdout + fix.stderr);
    assert.match(fix.stdout, new RegExp(`taken out of service: ${fresh.lib}`));
    assert.match(fix.stdout, new RegExp(`taken out of service: ${fresh.top}`));
    const after = await arca(["verify"], { env });
    assert.equal(after.code, 0, after.stdout);
    assert.match(after.stdout, /2 paths, 2 NAR files/);
  } finally {
    await tmp.cleanup();
  }
});
