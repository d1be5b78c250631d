/**
 * `arca config` through the real CLI: the first run writes the template
 * (and only the first), precedence file < env < flags, --config and
 * ARCA_CONFIG, and one-line errors with exit 1 for a bad file. HOME and
 * XDG_CONFIG_HOME point into a fresh temporary directory for every test.
 */
import assert from "node:assert/strict";
import { arca, tempDir } from "./_run.ts";
import { configTemplate, DEFAULTS } from "../lib/config/mod.ts";
import { defaultConfigPath } from "../lib/io/config_file.ts";

/** A clean environment rooted at a temp HOME; `ARCA_*` from the caller's shell is blanked. */
function envFor(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const blank = Object.fromEntries(
    Object.keys(Deno.env.toObject()).filter((k) => k.startsWith("ARCA_")).map((k) => [k, ""]),
  );
  return { ...blank, HOME: home, XDG_CONFIG_HOME: "", ...extra };
}

async function configJson(args: string[], env: Record<string, string>) {
  const r = await arca(["config", "--json", ...args], { env });
  assert.equal(r.code, 0, r.stderr);
  return { config: JSON.parse(r.stdout), stderr: r.stderr };
}

Deno.test("first run writes the commented template, later runs leave the file alone", async () => {
  const t = await tempDir();
  try {
    const env = envFor(t.path);
    const path = `${t.path}/.config/arca/config.toml`;
    const first = await arca(["config"], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await Deno.readTextFile(path), configTemplate());
    assert.match(first.stderr, new RegExp(`wrote a commented configuration template to ${path}`));
    assert.ok(first.stdout.startsWith(`# configuration file: ${path}`), first.stdout);
    assert.match(first.stdout, /^priority = 40$/m);
    assert.match(first.stdout, new RegExp(`^cache_dir = "${t.path}/.cache/arca"$`, "m"));

    // The user edits the file: the next run reads it and does not rewrite it.
    const edited = `${configTemplate()}\npriority = 7\n`;
    await Deno.writeTextFile(path, edited);
    const second = await configJson([], env);
    assert.equal(second.config.priority, 7);
    assert.doesNotMatch(second.stderr, /wrote/);
    assert.equal(await Deno.readTextFile(path), edited);
  } finally {
    await t.cleanup();
  }
});

Deno.test("XDG_CONFIG_HOME decides where the default file lives", async () => {
  const t = await tempDir();
  try {
    const env = envFor(t.path, { XDG_CONFIG_HOME: `${t.path}/xdg` });
    const { config, stderr } = await configJson([], env);
    assert.deepEqual(config, {
      ...DEFAULTS,
      cache_dir: `${t.path}/.cache/arca`,
      db_path: `${t.path}/.cache/arca/db`,
    });
    assert.match(stderr, new RegExp(`${t.path}/xdg/arca/config.toml`));
    await Deno.stat(`${t.path}/xdg/arca/config.toml`);
    await assert.rejects(Deno.stat(`${t.path}/.config`), Deno.errors.NotFound);
  } finally {
    await t.cleanup();
  }
});

Deno.test("precedence through the CLI: file < env < flags", async () => {
  const t = await tempDir();
  try {
    const dir = `${t.path}/.config/arca`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      [
        'cache_dir = "~/from-file"',
        "priority = 10",
        'bind = "127.0.0.1:1111"',
        'compression = "xz"',
        'log_level = "warn"',
      ].join("\n"),
    );
    const home = envFor(t.path);

    const fileOnly = (await configJson([], home)).config;
    assert.equal(fileOnly.cache_dir, `${t.path}/from-file`);
    assert.equal(fileOnly.db_path, `${t.path}/from-file/db`);
    assert.equal(fileOnly.priority, 10);
    assert.equal(fileOnly.compression, "xz");
    assert.equal(fileOnly.zstd_level, DEFAULTS.zstd_level);

    const env = {
      ...home,
      ARCA_DIR: "/srv/from-env",
      ARCA_PRIORITY: "20",
      ARCA_BIND: "[::1]:2222",
      ARCA_SIGNING_KEY: "~/k.secret",
    };
    const withEnv = (await configJson([], env)).config;
    assert.equal(withEnv.cache_dir, "/srv/from-env");
    assert.equal(withEnv.priority, 20);
    assert.equal(withEnv.bind, "[::1]:2222");
    assert.equal(withEnv.signing_key_path, `${t.path}/k.secret`);
    assert.equal(withEnv.compression, "xz", "the file still counts where env is silent");
    assert.equal(withEnv.log_level, "warn");

    // --cache-dir beats ARCA_DIR, before or after the command name.
    const after = (await configJson(["--cache-dir", "/srv/from-flag"], env)).config;
    assert.equal(after.cache_dir, "/srv/from-flag");
    assert.equal(after.db_path, "/srv/from-flag/db");
    const r = await arca(["--cache-dir=/srv/before", "config", "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).cache_dir, "/srv/before");
  } finally {
    await t.cleanup();
  }
});

Deno.test("--config and ARCA_CONFIG choose the file; --config wins; a missing one is an error", async () => {
  const t = await tempDir();
  try {
    const a = `${t.path}/a.toml`;
    const b = `${t.path}/b.toml`;
    await Deno.writeTextFile(a, "priority = 101\n");
    await Deno.writeTextFile(b, "priority = 202\n");
    const env = envFor(t.path);

    const viaEnv = await configJson([], { ...env, ARCA_CONFIG: a });
    assert.equal(viaEnv.config.priority, 101);
    assert.match(viaEnv.stderr, new RegExp(a));
    const viaFlag = await configJson(["--config", b], { ...env, ARCA_CONFIG: a });
    assert.equal(viaFlag.config.priority, 202);
    const before = await arca(["--config", b, "config", "--json"], { env });
    assert.equal(JSON.parse(before.stdout).priority, 202);
    // An explicit file is read, and the default one is never created.
    await assert.rejects(Deno.stat(`${t.path}/.config`), Deno.errors.NotFound);

    const missing = `${t.path}/nope.toml`;
    for (
      const run of [
        arca(["config", "--config", missing], { env }),
        arca(["config"], { env: { ...env, ARCA_CONFIG: missing } }),
      ]
    ) {
      const r = await run;
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(
        r.stderr.trimEnd().split("\n").length,
        1,
        `one line expected: ${JSON.stringify(r.stderr)}`,
      );
      assert.match(
        r.stderr,
        new RegExp(`^arca: config error: ${missing}: no such configuration file`),
      );
    }
    await assert.rejects(Deno.stat(missing), Deno.errors.NotFound);
  } finally {
    await t.cleanup();
  }
});

Deno.test("a bad config file or variable: exit 1 with one line naming file, line and key", async () => {
  const t = await tempDir();
  try {
    const file = `${t.path}/bad.toml`;
    const env = envFor(t.path, { ARCA_CONFIG: file });
    const cases: [string, string][] = [
      [
        '# my settings\nbind = "127.0.0.1:1"\ncompresion = "xz"\n',
        `${file}:3: unknown key "compresion" (did you mean "compression"?)`,
      ],
      [
        '\n\npriority = "high"\n',
        `${file}:3: "priority" must be an integer from 0 to 1000, got "high"`,
      ],
      ["priority = 1\npriority = [\n", `${file}:2: invalid TOML: `],
    ];
    for (const [text, message] of cases) {
      await Deno.writeTextFile(file, text);
      const r = await arca(["config"], { env });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, JSON.stringify(r.stderr));
      assert.ok(r.stderr.startsWith(`arca: config error: ${message}`), r.stderr);
    }
    await Deno.writeTextFile(file, "");
    const r = await arca(["config"], { env: { ...env, ARCA_LOG_LEVEL: "loud" } });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      'arca: config error: environment variable ARCA_LOG_LEVEL: "log_level" must be one of "error", "warn", "info", "debug", got "loud"',
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("arca config --template prints the template and reads no file", async () => {
  const t = await tempDir();
  try {
    const env = envFor(t.path, { ARCA_CONFIG: `${t.path}/absent.toml` });
    const r = await arca(["config", "--template"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, configTemplate());
    const both = await arca(["config", "--template", "--json"], { env });
    assert.equal(both.code, 2);
    assert.equal(both.stderr.trim(), "arca: --json and --template cannot be combined");
    const extra = await arca(["config", "surplus"], { env });
    assert.equal(extra.code, 2);
  } finally {
    await t.cleanup();
  }
});

Deno.test("an unwritable default location: a warning, then the defaults", async () => {
  const t = await tempDir();
  try {
    // ~/.config is a regular file, so ~/.config/arca cannot be created.
    await Deno.writeTextFile(`${t.path}/.config`, "");
    const r = await arca(["config", "--json"], { env: envFor(t.path, { ARCA_DIR: "/srv/a" }) });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^arca: warning: could not write .*\/\.config\/arca\/config\.toml: .*; using defaults$/m,
    );
    assert.deepEqual(JSON.parse(r.stdout), {
      ...DEFAULTS,
      cache_dir: "/srv/a",
      db_path: "/srv/a/db",
    });
  } finally {
    await t.cleanup();
  }
});

Deno.test("defaultConfigPath: XDG_CONFIG_HOME if absolute, else HOME, else an error", () => {
  assert.equal(defaultConfigPath({ XDG_CONFIG_HOME: "/x/", HOME: "/h" }), "/x/arca/config.toml");
  assert.equal(
    defaultConfigPath({ XDG_CONFIG_HOME: "rel", HOME: "/h" }),
    "/h/.config/arca/config.toml",
  );
  assert.equal(defaultConfigPath({ HOME: "/h" }), "/h/.config/arca/config.toml");
  assert.throws(() => defaultConfigPath({}), {
    name: "ConfigError",
    message: /neither XDG_CONFIG_HOME nor HOME is set; pass --config FILE or set ARCA_CONFIG/,
  });
});
