/**
 * The CLI skeleton through the real program: help for the whole program and
 * for every registered command, version, exit codes (0 ok, 2 usage) with
 * one-line errors, and global flags before and after the command name.
 */
import assert from "node:assert/strict";
import { arca, tempDir } from "./_run.ts";
import { COMMANDS } from "../cmd/mod.ts";
import { VERSION } from "../lib/version.ts";

/** An error printed as exactly one line starting with "arca: ". */
function assertOneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line expected, got ${JSON.stringify(stderr)}`);
  assert.match(lines[0], /^arca: /);
  assert.match(lines[0], pattern);
}

Deno.test("arca --help lists every command and exits 0", async () => {
  for (const args of [["--help"], ["-h"], ["help"]]) {
    const r = await arca(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: arca /m);
    for (const c of COMMANDS) {
      assert.match(r.stdout, new RegExp(`^  ${c.name} +\\S`, "m"), `${c.name} missing in ${args}`);
    }
    assert.match(r.stdout, /--cache-dir/);
    assert.match(r.stdout, /--config/);
  }
  // No command at all: the help, but as a usage failure.
  const bare = await arca([]);
  assert.equal(bare.code, 2);
  assert.match(bare.stdout, /^Usage: arca /m);
});

Deno.test("every command has help starting with its usage line, and exits 0", async () => {
  assert.ok(COMMANDS.length >= 3);
  const problems: string[] = [];
  await Promise.all(COMMANDS.map(async (c) => {
    assert.ok(c.summary.trim() !== "", `${c.name} has a summary`);
    // The table and the lazily loaded module name the same command.
    assert.equal((await c.load()).name, c.name);
    for (const args of [[c.name, "--help"], [c.name, "-h"], ["help", c.name]]) {
      const r = await arca(args);
      if (r.code !== 0) problems.push(`arca ${args.join(" ")}: exit ${r.code}`);
      if (!r.stdout.startsWith(`Usage: arca ${c.name}`)) {
        problems.push(`arca ${args.join(" ")}: help does not start with "Usage: arca ${c.name}"`);
      }
      if (r.stdout.trim().split("\n").length < 3) {
        problems.push(`arca ${args.join(" ")}: help is too short to be useful`);
      }
    }
  }));
  assert.deepEqual(problems, []);
});

Deno.test("--version prints the version", async () => {
  for (const flag of ["--version", "-V"]) {
    const r = await arca([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `arca ${VERSION}\n`);
  }
});

Deno.test("usage errors exit 2 with one line on stderr", async () => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["help", "frobnicate"], /unknown command 'frobnicate'/],
    [["--bogus", "config"], /unknown global option '--bogus'/],
    [["config", "--bogus"], /--bogus/],
    [["keygen", "--bogus"], /--bogus/],
    [["keygen", "extra"], /unexpected argument 'extra'/],
    [["--config"], /'--config' needs a value/],
    [["--cache-dir"], /'--cache-dir' needs a value/],
    [["config", "--config"], /--config/],
  ];
  await Promise.all(cases.map(async ([args, pattern]) => {
    const r = await arca(args);
    assert.equal(r.code, 2, `arca ${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "", `arca ${args.join(" ")}`);
    assertOneLineError(r.stderr, pattern);
  }));
});

Deno.test("global flags work before and after the command name", async () => {
  const t = await tempDir();
  try {
    const file = `${t.path}/c.toml`;
    await Deno.writeTextFile(file, "priority = 3\n");
    const env = { HOME: t.path, ARCA_DIR: "", ARCA_CONFIG: "" };
    const forms = [
      ["--cache-dir", `${t.path}/x`, "--config", file, "config", "--json"],
      ["config", "--json", "--cache-dir", `${t.path}/x`, "--config", file],
      [`--cache-dir=${t.path}/x`, "config", `--config=${file}`, "--json"],
      // After the command, a global flag overrides the same flag given before it.
      [
        "--cache-dir",
        "/elsewhere",
        "config",
        "--cache-dir",
        `${t.path}/x`,
        "--config",
        file,
        "--json",
      ],
    ];
    for (const args of forms) {
      const r = await arca(args, { env });
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      const c = JSON.parse(r.stdout);
      assert.equal(c.cache_dir, `${t.path}/x`, args.join(" "));
      assert.equal(c.priority, 3, args.join(" "));
    }
    // Commands without config still accept the global flags.
    const k = await arca(["keygen", "--cache-dir", t.path], { env });
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stdout, /^[0-9a-f]{64}\n$/);
  } finally {
    await t.cleanup();
  }
});
