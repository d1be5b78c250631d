/**
 * `arca verify` on a real import: clean at first; a flipped byte in a pack is
 * reported in plain words and in JSON; `--repair` takes the damaged path and
 * its referrer out of service; afterwards verify is clean again.
 */
import assert from "node:assert/strict";
import { arca, buildPath, nixEnv, tempDir } from "./_run.ts";
import { arcaEnv } from "./_cache_fixture.ts";

Deno.test("verify finds damage and --repair takes it and its referrers out", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  try {
    const lib = await buildPath(
      "verify-lib",
      "mkdir -p $out; head -c 200000 /dev/urandom > $out/blob",
      nix,
    );
    const app = await buildPath("verify-app", "mkdir -p $out; echo $lib > $out/lib", nix, {
      deps: { lib },
    });
    const other = await buildPath("verify-other", "mkdir -p $out; echo hi > $out/x", nix);
    for (const p of [app, other]) {
      const r = await arca(["import-closure", "--compression", "zstd", p], { env });
      assert.equal(r.code, 0, r.stderr);
    }
    const clean = await arca(["verify"], { env });
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /3 paths, 3 NAR files, \d+ chunks, .* all intact/);

    // Flip one byte in the middle of the biggest pack (lib's blob).
    const packs = [];
    for await (const e of Deno.readDir(`${tmp.path}/cache/packs`)) {
      const p = `${tmp.path}/cache/packs/${e.name}`;
      packs.push({ p, size: (await Deno.stat(p)).size });
    }
    const big = packs.sort((x, y) => y.size - x.size)[0];
    const bytes = await Deno.readFile(big.p);
    bytes[bytes.length >> 1] ^= 0xff;
    await Deno.writeFile(big.p, bytes);

    const bad = await arca(["verify"], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /problem: nar\/\w+: chunk \d+ \(pack \w+ at \d+\) is damaged/);
    const json = JSON.parse((await arca(["verify", "--json"], { env })).stdout);
    assert.ok(json.problems.some((p: { kind: string }) => p.kind === "nar"));

    const fix = await arca(["verify", "--repair"], { env });
    assert.equal(fix.code, 0, fix.stdout + fix.stderr);
    assert.match(fix.stdout, new RegExp(`taken out of service: ${lib}`));
    assert.match(fix.stdout, new RegExp(`taken out of service: ${app}`));
    const list = (await arca(["list"], { env })).stdout;
    assert.ok(list.includes(other) && !list.includes(lib) && !list.includes(app), list);
    const after = await arca(["verify"], { env });
    assert.equal(after.code, 0, after.stdout);
    assert.match((await arca(["audit"], { env })).stdout, /Quarantine/);
  } finally {
    await tmp.cleanup();
  }
});
