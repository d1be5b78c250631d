/**
 * Every launcher starts arca with the same V8 flags (lib/cli/runtime_flags.ts):
 * the deno.json tasks and `deno compile` (which bakes them into the binary),
 * which the flake's package runs as it is (the NixOS service runs that
 * binary). A launcher without them runs the same program with a much larger
 * heap.
 */
import assert from "node:assert/strict";
import { V8_FLAGS } from "../lib/cli/runtime_flags.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const FLAG = `--v8-flags=${V8_FLAGS}`;

Deno.test("deno.json: every task that starts arca passes the V8 flags", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks as Record<
    string,
    string
  >;
  const launchers = Object.entries(tasks).filter(([, cmd]) => /\bmain\.ts\b/.test(cmd));
  assert.deepEqual(launchers.map(([name]) => name).sort(), ["arca", "check", "compile", "start"]);
  for (const [name, cmd] of launchers) {
    if (name === "check") continue;
    assert.ok(cmd.includes(` ${FLAG} `), `task ${name} lacks ${FLAG}: ${cmd}`);
  }
});

Deno.test("flake.nix: the package is deno.json's compile task, and no Nix file starts deno without the flags", async () => {
  const flake = await Deno.readTextFile(`${ROOT}flake.nix`);
  assert.match(flake, /compileTask = denoJson\.tasks\.compile;/);
  const pkg = await Deno.readTextFile(`${ROOT}nix/package.nix`);
  // The one command line package.nix builds is the task's, with flags added in front.
  assert.match(pkg, /"deno compile --node-modules-dir=manual --no-check \$\{builtins\.head m\}"/);
  for (const file of ["flake.nix", "nix/package.nix", "nix/module.nix", "nix/npm_deps.nix"]) {
    const text = await Deno.readTextFile(`${ROOT}${file}`);
    const execs = text.split("\n").filter((l) =>
      !l.trim().startsWith("#") && /\bdeno (run|compile)\b/.test(l) &&
      !/\$\{builtins\.head m\}|builtins\.match "deno compile|start with 'deno compile'/.test(l)
    );
    for (const l of execs) assert.ok(l.includes(` ${FLAG} `), `${file} line lacks ${FLAG}: ${l}`);
  }
});
