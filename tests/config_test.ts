/**
 * Configuration as pure code: parsing and validation of config.toml with
 * errors that name file, line and key; environment variables; precedence;
 * the template; paths. The CLI side is in config_cli_test.ts.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Config,
  ConfigError,
  configFromEnv,
  configTemplate,
  DEFAULTS,
  expandPaths,
  formatConfig,
  parseBind,
  parseConfig,
  resolveConfig,
} from "../lib/config/mod.ts";

const FILE = "/etc/arca/config.toml";

/** Uncomments the `# key = value` lines of the template. */
function uncommented(template: string): string {
  return template.replace(/^# ([a-z_]+ = |\[\[segments\]\]$)/gm, "$1");
}

Deno.test("the template names every key with its default and parses back to DEFAULTS", () => {
  const t = configTemplate();
  for (const key of Object.keys(DEFAULTS)) {
    const shape = key === "segments" ? "\\[\\[segments\\]\\]$" : `${key} = `;
    assert.match(t, new RegExp(`^# ${shape}`, "m"), `template lacks ${key}`);
  }
  // Commented out, it changes nothing; uncommented, it spells out DEFAULTS exactly.
  assert.deepEqual(parseConfig(t, FILE), {});
  const open = uncommented(t);
  assert.notEqual(open, t);
  assert.deepEqual(parseConfig(open, FILE), { ...DEFAULTS });
  // Every non-key line is a comment or blank, so a user can read it as documentation.
  for (const line of t.split("\n")) assert.ok(line === "" || line.startsWith("#"), line);
});

Deno.test("a file setting every key parses to exactly those values", () => {
  const text = [
    "# a comment",
    'cache_dir = "/srv/arca"   # trailing comment',
    "backend = 'filesystem'",
    'db_path = "/srv/db"',
    'bind = "[::1]:8080"',
    "priority = 0",
    'compression = "xz"',
    "zstd_level = 19",
    'signing_key_path = "/k/one.secret"',
    "signing_key_paths = [",
    '  "/k/two.secret", # comment inside an array',
    '  "/k/three.secret",',
    "]",
    '"store_dir" = "/gnu/store"',
    'log_level = "debug"',
    "",
  ].join("\r\n");
  assert.deepEqual(parseConfig(text, FILE), {
    cache_dir: "/srv/arca",
    backend: "filesystem",
    db_path: "/srv/db",
    bind: "[::1]:8080",
    priority: 0,
    compression: "xz",
    zstd_level: 19,
    signing_key_path: "/k/one.secret",
    signing_key_paths: ["/k/two.secret", "/k/three.secret"],
    store_dir: "/gnu/store",
    log_level: "debug",
  });
  assert.deepEqual(parseConfig("", FILE), {});
});

/** [name, text, line, message after "config error: FILE:LINE: "] */
const BAD: [string, string, number, string][] = [
  [
    "unknown key with a suggestion",
    'priority = 10\n\n# compression below\ncompresion = "xz"\n',
    4,
    'unknown key "compresion" (did you mean "compression"?)',
  ],
  [
    "unknown key, dashes for underscores",
    "cache-dir = '/x'\n",
    1,
    'unknown key "cache-dir" (did you mean "cache_dir"?)',
  ],
  ["unknown key, nothing near", "\n\nfrobnicate = true\n", 3, 'unknown key "frobnicate"'],
  ["unknown key that is an Object property", "constructor = 1\n", 1, 'unknown key "constructor"'],
  ["unknown dotted key", 'bind = "127.0.0.1:1"\nserver.port = 80\n', 2, 'unknown key "server"'],
  [
    "wrong type: string for integer",
    'bind = "127.0.0.1:1"\n\npriority = "high"\n',
    3,
    '"priority" must be an integer from 0 to 1000, got "high"',
  ],
  [
    "wrong type: float for integer",
    "priority = 40.0\n",
    1,
    '"priority" must be an integer from 0 to 1000, got 40.0',
  ],
  [
    "wrong type: boolean for string",
    "cache_dir = true\n",
    1,
    '"cache_dir" must be a non-empty path, got true',
  ],
  [
    "wrong type: table for string",
    "\nbind = { host = 'x' }\n",
    2,
    '"bind" must be an address "host:port" (IPv6 as "[::1]:5555"), got a table',
  ],
  [
    "wrong type: date",
    "log_level = 1979-05-27T07:32:00Z\n",
    1,
    '"log_level" must be one of "error", "warn", "info", "debug", got a date',
  ],
  [
    "wrong element in array",
    'signing_key_paths = [\n  "/a",\n  2,\n]\n',
    1,
    '"signing_key_paths" must be an array of non-empty paths, got an array',
  ],
  [
    "out of range",
    "# x\nzstd_level = 22\n",
    2,
    '"zstd_level" must be an integer from 1 to 19, got 22',
  ],
  ["negative", "priority = -1\n", 1, '"priority" must be an integer from 0 to 1000, got -1'],
  [
    "huge integer",
    "priority = 9223372036854775807\n",
    1,
    '"priority" must be an integer from 0 to 1000, got 9223372036854775807',
  ],
  [
    "bad enum",
    "\ncompression = 'gzip'\n",
    2,
    '"compression" must be one of "zstd", "xz", "none", got "gzip"',
  ],
  [
    "enum is case-sensitive",
    "backend = 'KV'\n",
    1,
    '"backend" must be one of "kv", "filesystem", got "KV"',
  ],
  [
    "bad bind: no port",
    'bind = "localhost"\n',
    1,
    '"bind" must be an address "host:port" (IPv6 as "[::1]:5555"), got "localhost"',
  ],
  [
    "bad bind: port too big",
    'bind = "127.0.0.1:65536"\n',
    1,
    '"bind" must be an address "host:port" (IPv6 as "[::1]:5555"), got "127.0.0.1:65536"',
  ],
  [
    "bad bind: IPv6 without brackets",
    'bind = "::1:5555"\n',
    1,
    '"bind" must be an address "host:port" (IPv6 as "[::1]:5555"), got "::1:5555"',
  ],
  ["empty cache_dir", 'cache_dir = ""\n', 1, '"cache_dir" must be a non-empty path, got ""'],
  [
    "relative store_dir",
    'store_dir = "nix/store"\n',
    1,
    '"store_dir" must be an absolute path without a trailing slash, got "nix/store"',
  ],
  ["TOML syntax: unterminated string", 'priority = 1\nbind = "127.0.0.1:1\n', 2, "invalid TOML: "],
  ["TOML syntax: duplicate key", "priority = 1\n\npriority = 2\n", 3, "invalid TOML: "],
  ["TOML syntax: missing value", "# ok\n# ok\nlog_level =\n", 3, "invalid TOML: "],
  [
    "key in an unknown table",
    'priority = 1\n\n[server]\nbind = "127.0.0.1:1"\n',
    3,
    "unknown table [server]",
  ],
  ["unknown array of tables", "[[peers]]\nurl = 'x'\n", 1, "unknown table [[peers]]"],
  [
    "table name near a key",
    "[compresion]\nx = 1\n",
    1,
    'unknown table [compresion] (did you mean "compression"?)',
  ],
  [
    "key-like text inside a multi-line string is skipped",
    "cache_dir = '''\ncompresion = 1\n[fake]\n'''\nlog_level = 'loud'\n",
    5,
    '"log_level" must be one of "error", "warn", "info", "debug", got "loud"',
  ],
  [
    "first problem by line wins",
    "zstd_level = 0\npriority = -5\n",
    1,
    '"zstd_level" must be an integer from 1 to 19, got 0',
  ],
];

Deno.test("bad configs: each error names the file, the right line and the key", () => {
  for (const [name, text, line, message] of BAD) {
    let err: unknown;
    try {
      parseConfig(text, FILE);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, `${name}: expected a ConfigError, got ${err}`);
    const prefix = `config error: ${FILE}:${line}: `;
    assert.ok(
      err.message.startsWith(prefix),
      `${name}: ${JSON.stringify(err.message)} lacks ${prefix}`,
    );
    const rest = err.message.slice(prefix.length);
    if (message.endsWith(": ")) assert.ok(rest.startsWith(message), `${name}: ${rest}`);
    else assert.equal(rest, message, name);
    assert.ok(!err.message.includes("\n"), `${name}: one line`);
  }
});

Deno.test("property: the reported line is right wherever the bad key sits", () => {
  // Valid blocks whose insides look like keys or headers but are not.
  const blocks = [
    "# priority = 1000000",
    "",
    'signing_key_paths = [\n  "/a = b",  # [table]\n  """\n/c""",\n]',
    "cache_dir = '''\nbind = 1\n[fake]\n'''",
    'store_dir = """\n/nix/store"""',
    '"db_path" = "/x\\"y = z"',
    "bind = { } # not a table; refused only if it were first",
    "log_level = 'info'",
  ];
  const bad = [
    ['compresion = "xz"', 'unknown key "compresion"'],
    ['priority = "high"', '"priority" must be'],
    ["zstd_level = 99", '"zstd_level" must be'],
  ];
  fc.assert(
    fc.property(
      fc.shuffledSubarray(blocks.filter((b) => !b.startsWith("bind"))),
      fc.nat(),
      fc.constantFrom(...bad),
      fc.boolean(),
      (chosen, at, [line, message], asTable) => {
        const pos = at % (chosen.length + 1);
        const before = chosen.slice(0, pos).join("\n");
        const badLine = pos === 0 ? 1 : before.split("\n").length + 1;
        let text = [...chosen.slice(0, pos), line, ...chosen.slice(pos)].join("\n") + "\n";
        let expected = `config error: ${FILE}:${badLine}: ${message}`;
        if (asTable) {
          // An unknown table must come after every top-level key.
          const head = chosen.join("\n");
          const n = chosen.length === 0 ? 1 : head.split("\n").length + 1;
          text = `${chosen.length === 0 ? "" : `${head}\n`}[server]\nport = 1\n`;
          expected = `config error: ${FILE}:${n}: unknown table [server]`;
        }
        assert.throws(() => parseConfig(text, FILE), (e: Error) => {
          assert.ok(e instanceof ConfigError);
          assert.ok(e.message.startsWith(expected), `${e.message}\nwanted ${expected}\n${text}`);
          return true;
        });
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("property: formatConfig output parses back to the same config", () => {
  const path = fc.stringMatching(/^\/[a-z0-9 ._\-\u00e9"'\\]{1,20}$/);
  const pubKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((k) =>
    `key-${k[0]}:${btoa(String.fromCharCode(...k))}`
  );
  const config = fc.record<Config>({
    cache_dir: path,
    backend: fc.constantFrom("kv", "filesystem"),
    db_path: fc.oneof(fc.constant(""), path),
    bind: fc.oneof(
      fc.constantFrom("127.0.0.1:5555", "[::1]:0", "0.0.0.0:80", "example.org:443", "[fe80::1]:9"),
      fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 })).map(([h, p]) => `${h}:${p}`),
    ),
    http_io: fc.constantFrom("auto", "epoll", "portable"),
    priority: fc.integer({ min: 0, max: 1000 }),
    compression: fc.constantFrom("zstd", "xz", "none"),
    zstd_level: fc.integer({ min: 1, max: 19 }),
    signing_key_path: fc.oneof(fc.constant(""), path),
    signing_key_paths: fc.array(path, { maxLength: 3 }),
    store_dir: path.filter((p) => !p.endsWith("/")),
    log_level: fc.constantFrom("error", "warn", "info", "debug"),
    gc_interval: fc.constantFrom("1h", "30m", "1h30m", "7d"),
    max_size: fc.constantFrom("", "10G", "500M", "1T", "100K"),
    max_age: fc.constantFrom("", "30d", "24h", "1h30m"),
    upload_tokens: fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/), { maxLength: 3 }),
    upload_tokens_file: fc.oneof(fc.constant(""), path),
    read_token: fc.oneof(fc.constant(""), fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/)),
    metrics_token: fc.oneof(fc.constant(""), fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/)),
    trusted_public_keys: fc.array(pubKey, { maxLength: 2 }),
    sign_uploads: fc.boolean(),
    max_upload_size: fc.integer({ min: 1024, max: 2 ** 40 }),
    nixpkgs_keys: fc.array(pubKey, { maxLength: 2 }),
    discovery_port: fc.integer({ min: 1, max: 65535 }),
    sync_port: fc.integer({ min: 0, max: 65535 }),
    swarm_bind: fc.oneof(fc.ipV4(), fc.constantFrom("::", "::1", "fe80::1")),
    multicast_group: fc.tuple(fc.integer({ min: 224, max: 239 }), fc.ipV4())
      .map(([a, ip]) => `${a}.${ip.split(".").slice(1).join(".")}`),
    multicast_interface: fc.oneof(fc.constant(""), fc.ipV4()),
    multicast_ttl: fc.integer({ min: 1, max: 32 }),
    static_peers: fc.array(
      fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 })).map(([h, p]) => `${h}:${p}`),
      { maxLength: 3 },
    ),
    also_serve: fc.boolean(),
    max_peers: fc.integer({ min: 1, max: 1024 }),
    swarm_key_path: fc.oneof(fc.constant(""), path),
    cache_storages: fc.array(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,10}$/), { maxLength: 2 }),
    storage_strategy: fc.constantFrom("in-order", "round-robin", "split", "least-used"),
    storages: fc.uniqueArray(
      fc.record({
        name: fc.stringMatching(/^s[a-z0-9_-]{0,10}$/),
        type: fc.constant("s3" as const),
        path: fc.constant(""),
        endpoint: fc.constantFrom("http://127.0.0.1:7480", "https://s3.example.org"),
        region: fc.constantFrom("us-east-1", "eu-west-3"),
        bucket: fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,10}[a-z0-9]$/),
        prefix: fc.constantFrom("", "a/", "team/x/"),
        access_key_id: fc.stringMatching(/^[A-Z0-9]{0,12}$/),
        // Secrets are never printed (shown as "(set, not shown)"), so none here.
        secret_access_key: fc.constant(""),
        secret_access_key_file: fc.oneof(fc.constant(""), path),
        path_style: fc.boolean(),
        max_size: fc.constantFrom("", "10G"),
        weight: fc.integer({ min: 1, max: 100 }),
      }).map((s) => ({ ...s })),
      { selector: (s) => s.name, maxLength: 2 },
    ),
    caches: fc.uniqueArray(
      fc.record({
        name: fc.stringMatching(/^c[a-z0-9_-]{0,10}$/),
        storages: fc.uniqueArray(fc.stringMatching(/^s[a-z0-9]{0,5}$/), { maxLength: 2 }),
        storage_strategy: fc.constantFrom("in-order", "round-robin", "split", "least-used"),
        max_age: fc.constantFrom("", "30d"),
        upload_tokens: fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/), { maxLength: 2 }),
        read_token: fc.oneof(fc.constant(""), fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/)),
        signing_key_paths: fc.array(path, { maxLength: 2 }),
        trusted_public_keys: fc.array(pubKey, { maxLength: 1 }),
        priority: fc.integer({ min: 0, max: 1000 }),
      }).map((c) => ({ ...c })),
      { selector: (c) => c.name, maxLength: 2 },
    ),
    segments: fc.uniqueArray(
      fc.record({
        name: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/),
        topic_key: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) =>
          [...b].map((x) => x.toString(16).padStart(2, "0")).join("")
        ),
        description: fc.string({ maxLength: 30 }),
        filter: fc.constantFrom("nixpkgs" as const, "custom" as const, "all" as const),
        trusted_public_keys: fc.array(pubKey, { maxLength: 2 }),
      }).map((s) => ({ ...s })),
      { maxLength: 3, selector: (s) => s.name },
    ).filter((ss) => new Set(ss.map((s) => s.topic_key)).size === ss.length),
  });
  fc.assert(
    fc.property(config, (c) => {
      assert.deepEqual(parseConfig(formatConfig(c), FILE), { ...c });
    }),
    { numRuns: 300 },
  );
});

Deno.test("property: parseConfig throws only ConfigError, on any text", () => {
  const tomlish = fc.array(
    fc.constantFrom(
      "priority",
      " = ",
      "=",
      '"',
      "'",
      "'''",
      '"""',
      "[",
      "]",
      "[[",
      "{",
      "}",
      ",",
      ".",
      "#",
      "\n",
      "\r\n",
      "\\",
      "1",
      "x",
      "bind",
      " ",
    ),
    { maxLength: 40 },
  ).map((parts) => parts.join(""));
  fc.assert(
    fc.property(fc.oneof(fc.string(), tomlish), (text) => {
      try {
        parseConfig(text, FILE);
      } catch (e) {
        assert.ok(e instanceof ConfigError, `${e} for ${JSON.stringify(text)}`);
        assert.ok(!e.message.includes("\n"));
      }
    }),
    { numRuns: 2000 },
  );
});

Deno.test("environment variables map to keys and are validated with the file's rules", () => {
  assert.deepEqual(
    configFromEnv({
      ARCA_DIR: "/srv/arca",
      ARCA_BACKEND: "filesystem",
      ARCA_BIND: "[::1]:6000",
      ARCA_DB_PATH: "/srv/db",
      ARCA_COMPRESSION: "none",
      ARCA_SIGNING_KEY: "/k.secret",
      ARCA_PRIORITY: "15",
      ARCA_LOG_LEVEL: "warn",
      ARCA_CONFIG: "/not/a/key",
      HOME: "/root",
    }),
    {
      cache_dir: "/srv/arca",
      backend: "filesystem",
      bind: "[::1]:6000",
      db_path: "/srv/db",
      compression: "none",
      signing_key_path: "/k.secret",
      priority: 15,
      log_level: "warn",
    },
  );
  assert.deepEqual(configFromEnv({ ARCA_PRIORITY: "", ARCA_DIR: undefined }), {});
  const cases: [Record<string, string>, string][] = [
    [
      { ARCA_PRIORITY: "high" },
      'environment variable ARCA_PRIORITY: "priority" must be an integer from 0 to 1000, got "high"',
    ],
    [
      { ARCA_PRIORITY: "1001" },
      'environment variable ARCA_PRIORITY: "priority" must be an integer from 0 to 1000, got 1001',
    ],
    [{ ARCA_PRIORITY: "4.5" }, "environment variable ARCA_PRIORITY"],
    [{ ARCA_BIND: "localhost" }, 'environment variable ARCA_BIND: "bind" must be'],
    [
      { ARCA_COMPRESSION: "gzip" },
      'environment variable ARCA_COMPRESSION: "compression" must be one of',
    ],
    [{ ARCA_LOG_LEVEL: "trace" }, "environment variable ARCA_LOG_LEVEL"],
    [{ ARCA_BACKEND: "sqlite" }, "environment variable ARCA_BACKEND"],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => configFromEnv(env), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.ok(e.message.startsWith(`config error: ${message}`), e.message);
      return true;
    });
  }
});

Deno.test("precedence: DEFAULTS < file < env < flags, undefined does not override", () => {
  const c = resolveConfig({
    file: { priority: 1, bind: "0.0.0.0:1", compression: "xz", log_level: "warn" },
    env: { priority: 2, bind: "0.0.0.0:2", log_level: undefined },
    flags: { priority: 3 },
  });
  assert.equal(c.priority, 3);
  assert.equal(c.bind, "0.0.0.0:2");
  assert.equal(c.compression, "xz");
  assert.equal(c.log_level, "warn");
  assert.equal(c.store_dir, DEFAULTS.store_dir);
  assert.deepEqual(resolveConfig({}), { ...DEFAULTS });
  // The result is the caller's own: changing it leaves DEFAULTS intact.
  const mine = resolveConfig({});
  mine.signing_key_paths.push("/x");
  assert.deepEqual(DEFAULTS.signing_key_paths, []);
  assert.ok(Object.isFrozen(DEFAULTS));
});

Deno.test("bind addresses: host:port, IPv6 in brackets", () => {
  const good: [string, string, number][] = [
    ["127.0.0.1:5555", "127.0.0.1", 5555],
    ["[::1]:5555", "::1", 5555],
    ["[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80],
    ["localhost:0", "localhost", 0],
    ["cache.example.org:65535", "cache.example.org", 65535],
    ["0.0.0.0:443", "0.0.0.0", 443],
  ];
  for (const [s, hostname, port] of good) assert.deepEqual(parseBind(s), { hostname, port }, s);
  const bad = [
    "",
    "localhost",
    ":5555",
    "127.0.0.1:",
    "127.0.0.1:65536",
    "127.0.0.1:99999",
    "::1:5555",
    "[::1]",
    "[::g]:1",
    "[1:2:3:4:5:6:7:8:9]:1",
    "300.1.1.1:80",
    "1.2.3:80",
    "01.2.3.4:80",
    "host name:80",
    "-host:80",
    "http://x:80",
    "127.0.0.1:80 ",
  ];
  for (const s of bad) assert.equal(parseBind(s), undefined, s);
});

Deno.test("paths: ~ expands to HOME, empty db_path becomes <cache_dir>/db", () => {
  const c = expandPaths(
    {
      ...DEFAULTS,
      signing_key_path: "~/keys/a.secret",
      signing_key_paths: ["~/b.secret", "/c.secret", "~user/d"],
      store_dir: "/nix/store",
    },
    "/home/me/",
  );
  assert.equal(c.cache_dir, "/home/me/.cache/arca");
  assert.equal(c.db_path, "/home/me/.cache/arca/db");
  assert.equal(c.signing_key_path, "/home/me/keys/a.secret");
  assert.deepEqual(c.signing_key_paths, ["/home/me/b.secret", "/c.secret", "~user/d"]);
  assert.equal(expandPaths({ ...DEFAULTS, db_path: "/d" }, "/h").db_path, "/d");
  assert.throws(() => expandPaths({ ...DEFAULTS }, undefined), {
    name: "ConfigError",
    message: /cache_dir: cannot expand "~" in "~\/.cache\/arca": HOME is not set/,
  });
  // No ~ anywhere: HOME is not needed.
  assert.equal(expandPaths({ ...DEFAULTS, cache_dir: "/srv" }, undefined).db_path, "/srv/db");
});
