/**
 * Every launcher starts arca with the same V8 flags (lib/cli/runtime_flags.ts):
 * the deno.json tasks, `deno compile` (which bakes them into the binary) and
 * the flake's wrapper, which the NixOS service runs. A launcher without them
 * runs the same program with a much larger heap.
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

Deno.test("flake.nix: the wrapper passes the V8 flags", async () => {
  const flake = await Deno.readTextFile(`${ROOT}flake.nix`);
  const execs = flake.split("\n").filter((l) =>
    !l.trim().startsWith("#") && /\bdeno (run|compile)\b/.test(l)
  );
  assert.ok(execs.length > 0, "flake.nix starts no deno");
  for (const l of execs) assert.ok(l.includes(` ${FLAG} `), `flake.nix line lacks ${FLAG}: ${l}`);
});
