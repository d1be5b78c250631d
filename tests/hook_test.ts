/**
 * The post-build hook: `arca install-hook` on a test nix.conf (idempotent,
 * with a backup), then a real `nix-build` leaves its output and its build log
 * in Arca; the hook script never fails, even when the import does (the error
 * is logged).
 */
import assert from "node:assert/strict";
import { arca, buildPath, nixEnv, run, runOk, tempDir } from "./_run.ts";
import { arcaEnv } from "./_cache_fixture.ts";

Deno.test("install-hook, then nix-build leaves the output in Arca", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const etc = `${tmp.path}/etc`;
  await Deno.mkdir(etc);
  await Deno.writeTextFile(`${etc}/nix.conf`, "# a test nix.conf\nmax-jobs = 1\n");
  const args = ["install-hook", "--nix-conf", `${etc}/nix.conf`, "--hook-path", `${etc}/hook`];
  try {
    const first = await arca(args, { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /wrote .*\/etc\/hook/);
    assert.match(first.stdout, /set post-build-hook = .*\/etc\/hook in .*nix\.conf \(backup: /);
    const conf = await Deno.readTextFile(`${etc}/nix.conf`);
    assert.match(conf, /^max-jobs = 1$/m);
    assert.match(conf, new RegExp(`^post-build-hook = ${etc}/hook$`, "m"));
    assert.equal(((await Deno.stat(`${etc}/hook`)).mode ?? 0) & 0o777, 0o755);
    const backups = [...Deno.readDirSync(etc)].filter((e) => e.name.includes(".bak-"));
    assert.equal(backups.length, 1);

    const second = await arca(args, { env });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /already installed/);
    assert.equal(await Deno.readTextFile(`${etc}/nix.conf`), conf);

    // Another hook already configured is not replaced without --force.
    await Deno.writeTextFile(`${tmp.path}/other.conf`, "post-build-hook = /bin/true\n");
    const clash = await arca(
      ["install-hook", "--nix-conf", `${tmp.path}/other.conf`, "--hook-path", `${etc}/hook`],
      { env },
    );
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /already sets post-build-hook = \/bin\/true/);

    const out = await buildPath(
      "hooked",
      "echo building-the-hooked-path; mkdir -p $out; echo built > $out/x",
      { ...nix, NIX_CONF_DIR: etc },
    );
    const list = await arca(["list", "--json"], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.ok(list.stdout.includes(out), `${out} should be cached: ${list.stdout}`);
    // Its build log too, as `GET /log/<drv>` serves it.
    const drv = (await runOk("nix-store", ["-q", "--deriver", out], { env: nix })).trim();
    const log = await Deno.readTextFile(`${tmp.path}/cache/logs/${drv.slice(11)}`);
    assert.match(log, /building-the-hooked-path/);

    // A failing import never fails the hook: it is logged instead.
    const hook = await run(`${etc}/hook`, [], {
      env: { ...env, OUT_PATHS: "/nix/store/00000000000000000000000000000000-gone" },
    });
    assert.equal(hook.code, 0);
    assert.match(hook.stderr, /arca hook: importing .* failed/);
    assert.match(await Deno.readTextFile(`${tmp.path}/cache/hook.log`), /-gone/);
  } finally {
    await tmp.cleanup();
  }
});
