/**
 * `arca import`, `import-closure`, `list`, `status` and `audit` as a user
 * runs them, with the real Nix: refusals, flake references, JSON output,
 * progress on a terminal.
 */
import assert from "node:assert/strict";
import {
  arca,
  arcaArgs,
  buildPath,
  deleteStorePaths,
  nixEnv,
  run,
  runOk,
  tempDir,
} from "./_run.ts";
import { arcaEnv } from "./_cache_fixture.ts";

Deno.test("import refuses a path whose references are not cached, and says what to do", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  try {
    const dep = await buildPath("arca-dep", "mkdir $out; echo dep > $out/x", nix);
    const top = await buildPath("arca-needs-dep", "mkdir $out; echo $dep > $out/ref", nix, {
      deps: { dep },
    });
    const r = await arca(["import", top], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /references are not in the cache yet: .*arca-dep.*import-closure/);
    const list = JSON.parse((await arca(["list", "--json"], { env })).stdout);
    assert.deepEqual(list, [], "nothing was published");

    // In dependency order it works, and the JSON lines say what happened.
    const ok = await arca(["import", "--json", top, dep], { env });
    assert.equal(ok.code, 0, ok.stderr);
    const lines = ok.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.path, l.status]), [[dep, "imported"], [top, "imported"]]);
    const listed = JSON.parse((await arca(["list", "--json"], { env })).stdout);
    assert.deepEqual(
      listed.map((i: { storePath: string }) => i.storePath).sort(),
      [dep, top].sort(),
    );
    const status = JSON.parse((await arca(["status", "--json"], { env })).stdout);
    assert.equal(status.paths, 2);
    assert.equal(status.backend, "kv");

    const audit = (await arca(["audit", "--json", "--since", "1h"], { env })).stdout.trim()
      .split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(
      audit.filter((e) => e.type === "Import").map((e) => e.path).sort(),
      [dep, top].sort(),
    );
    const bad = await arca(["audit", "--since", "yesterday"], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid duration 'yesterday'/);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("import refuses a path whose contents no longer match the NarHash Nix recorded", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const p = await buildPath("arca-tampered", "mkdir $out; echo original > $out/file", nix);
  try {
    // Tamper with the store path behind Nix's back (we are root in the test machine).
    await Deno.chmod(p, 0o755);
    await Deno.chmod(`${p}/file`, 0o644);
    await Deno.writeTextFile(`${p}/file`, "tampered\n");
    const r = await arca(["import", p], { env });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /refusing .*arca-tampered: its NAR hashes to sha256:\S+ .* but Nix recorded/,
    );
    const status = JSON.parse((await arca(["status", "--json"], { env })).stdout);
    assert.equal(status.paths, 0);
    assert.equal(status.storedBytes, 0);
    const leftovers = [...Deno.readDirSync(`${tmp.path}/cache/tmp`)];
    assert.deepEqual(leftovers, [], "no temporary data left behind");
  } finally {
    await deleteStorePaths([p], nix);
    await tmp.cleanup();
  }
});

Deno.test("import-closure takes a flake reference, builds it and imports its closure", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  try {
    const salt = crypto.randomUUID();
    await Deno.mkdir(`${tmp.path}/flake`);
    await Deno.writeTextFile(
      `${tmp.path}/flake/flake.nix`,
      `{
  outputs = { self }: {
    packages.${await currentSystem(nix)}.default = derivation {
      name = "arca-flake-thing"; system = "${await currentSystem(nix)}"; builder = "/bin/sh";
      args = [ "-c" "mkdir $out; echo ${salt} > $out/salt" ]; PATH = "/usr/bin:/bin";
    };
  };
}\n`,
    );
    const r = await arca(["import-closure", `path:${tmp.path}/flake#default`], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported \/nix\/store\/[0-9a-z]{32}-arca-flake-thing/);
    assert.match(r.stderr, /1 imported, 0 already cached, 0 failed/);
    const out = /imported (\S+)/.exec(r.stdout)![1];
    await deleteStorePaths([out], nix);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("import-closure draws a progress bar on a terminal", async () => {
  const hasScript = (await run("sh", ["-c", "command -v script"])).code === 0;
  assert.ok(hasScript, "util-linux 'script' is needed to give arca a terminal");
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  try {
    const p = await buildPath(
      "arca-progress",
      "mkdir $out; head -c 3000000 /dev/urandom > $out/f",
      nix,
    );
    const cmd = [Deno.execPath(), ...arcaArgs(["import-closure", p])].join(" ");
    const r = await run("script", ["-qec", cmd, "/dev/null"], { env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\[#+\.*\] \d+\/1 paths .*\/s {2}ETA \d+s/);
    await deleteStorePaths([p], nix);
  } finally {
    await tmp.cleanup();
  }
});

async function currentSystem(env: Record<string, string>): Promise<string> {
  return (await runOk("nix", ["eval", "--raw", "--impure", "--expr", "builtins.currentSystem"], {
    env,
  })).trim();
}
