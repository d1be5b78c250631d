/** The commands' flag parser (cmd/_args.ts): the forms it accepts and the usage errors it gives. */
import assert from "node:assert/strict";
import { parseFlags } from "../cmd/_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";

const SPEC = {
  bind: { type: "string" },
  json: { type: "boolean" },
  key: { type: "string", multiple: true },
  level: { type: "string", default: "3" },
} as const;

Deno.test("flags: values, booleans, repeats, defaults, --, globals", () => {
  const p = parseFlags(
    [
      "a",
      "--bind",
      "h:1",
      "--json",
      "--key=x",
      "--key",
      "y",
      "-h",
      "--cache-dir=/c",
      "b",
      "--",
      "--json",
      "-",
    ],
    SPEC,
    { cacheDir: "/old", configPath: "/cfg", cache: "team" },
  );
  assert.deepEqual(p.positionals, ["a", "b", "--json", "-"]);
  assert.equal(p.values.bind, "h:1");
  assert.equal(p.values.json, true);
  assert.deepEqual(p.values.key, ["x", "y"]);
  assert.equal(p.values.level, "3");
  assert.equal(p.help, true);
  assert.deepEqual(p.globals, { cacheDir: "/c", configPath: "/cfg", cache: "team" });
  assert.equal(parseFlags(["--cache", "ci"], SPEC, { cache: "team" }).globals.cache, "ci");
  assert.equal(parseFlags(["--level=", "-"], SPEC).values.level, "");
  assert.deepEqual(parseFlags(["-"], SPEC).positionals, ["-"]);
});

Deno.test("flags: mistakes are one-line usage errors naming the option", () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /unknown option '--bogus'/],
    [["-x"], /unknown option '-x'/],
    [["-hh"], /unknown option '-hh'/],
    [["--bind"], /option '--bind' needs a value/],
    [["--bind", "--json"], /option '--bind' needs a value, not '--json'/],
    [["--json=yes"], /option '--json' does not take a value/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(
      () => parseFlags(argv, SPEC),
      (e) => e instanceof UsageError && re.test(e.message),
    );
  }
});
