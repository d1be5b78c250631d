/**
 * The NixOS module and the flake, checked without nixpkgs (none is here):
 * both are evaluated by the real Nix 2.8 against stubs of `lib`, `pkgs` and
 * nixpkgs (tests/fixtures/), and what they produce is run for real where it
 * can be: the rendered config.toml through `arca config --json` (every key),
 * the unit through `systemd-analyze verify` and `security`, the unit's
 * command line and environment starting Arca (with `bin/arca` a wrapper
 * around `deno run`), the post-build hook pushing a build to it, SIGTERM
 * stopping it cleanly; the flake's node_modules script on tarballs of the
 * npm packages and its compile command up to the embedding of `denort`.
 */
import assert from "node:assert/strict";
import { KEY_NAMES } from "../lib/config/_keys.ts";
import type { Config } from "../lib/config/mod.ts";
import { V8_FLAGS } from "../lib/cli/runtime_flags.ts";
import { arca, buildPath, nixEnv, run, runOk, tempDir } from "./_run.ts";
import { makeKey } from "./_cache_fixture.ts";

const ROOT = new URL("..", import.meta.url).pathname;
// deno-lint-ignore no-explicit-any
type Json = any;

/** The module's `config` for `user` (services.arca options), from the stub's evaluation. */
async function evalModule(user: Json, pkg = "/nix/store/00000000000000000000000000000000-arca") {
  const r = await evalStub(user, pkg);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function evalStub(user: Json, pkg: string) {
  return await run("nix-instantiate", [
    "--eval",
    "--strict",
    "--json",
    // pkgs.writeText is builtins.toFile in the stub: the files must reach the store.
    "--read-write-mode",
    `${ROOT}tests/fixtures/nixos_stub.nix`,
    "--argstr",
    "userJson",
    JSON.stringify({ services: { arca: user } }),
    "--argstr",
    "package",
    pkg,
    "--argstr",
    "nixPrefix",
    "/usr",
  ], { env: await nixEnv() });
}

/** A non-default value for every configuration key (a new key must be added here). */
const EVERY_KEY: Config = {
  cache_dir: '/srv/arca cache/ü "quoted"',
  backend: "filesystem",
  db_path: "/srv/arca-db",
  bind: "[::1]:5556",
  http_io: "portable",
  priority: 7,
  compression: "xz",
  zstd_level: 9,
  signing_key_path: "/run/keys/a\\b",
  signing_key_paths: ["/run/keys/c", "/run/keys/d"],
  store_dir: "/gnu/store",
  log_level: "debug",
  gc_interval: "30m",
  max_size: "10G",
  max_age: "30d",
  upload_tokens: ["tok-1", "tok-2"],
  upload_tokens_file: "/run/keys/tokens",
  read_token: "reader",
  metrics_token: "scraper",
  trusted_public_keys: ["ci-1:" + btoa(String.fromCharCode(...new Uint8Array(32).fill(7)))],
  sign_uploads: false,
  max_upload_size: 2 ** 40,
  nixpkgs_keys: ["nixpkgs-1:" + btoa(String.fromCharCode(...new Uint8Array(32).fill(8)))],
  discovery_port: 7170,
  sync_port: 7171,
  swarm_bind: "10.0.0.2",
  multicast_group: "239.1.2.3",
  multicast_interface: "10.0.0.2",
  multicast_ttl: 2,
  static_peers: ["10.0.0.3:7071", "[fd00::1]:7071"],
  also_serve: true,
  max_peers: 12,
  swarm_key_path: "/var/lib/arca/node.key",
  cache_storages: ["local", "rgw"],
  storage_strategy: "least-used",
  storages: [
    {
      name: "rgw",
      type: "s3",
      path: "",
      endpoint: "http://10.0.0.9:7480",
      region: "eu-1",
      bucket: "nix",
      prefix: "arca/",
      access_key_id: "AKIA",
      secret_access_key: "",
      secret_access_key_file: "/run/keys/s3",
      path_style: true,
      max_size: "1T",
      weight: 2,
    },
  ],
  caches: [],
  segments: [
    {
      name: "team",
      topic_key: "ab".repeat(32),
      description: 'our "CI" builds',
      filter: "custom",
      trusted_public_keys: ["ci-1:" + btoa(String.fromCharCode(...new Uint8Array(32).fill(7)))],
    },
    {
      name: "universal",
      topic_key: "cd".repeat(32),
      description: "",
      filter: "nixpkgs",
      trusted_public_keys: [],
    },
  ],
};

Deno.test("module: settings with every key render to a config.toml that arca accepts", async () => {
  assert.deepEqual(Object.keys(EVERY_KEY).sort(), [...KEY_NAMES].sort());
  const c = await evalModule({ enable: true, settings: EVERY_KEY });
  const file = c.systemd.services.arca.environment.ARCA_CONFIG;
  assert.match(file, /^\/nix\/store\/[0-9a-z]{32}-arca-config\.toml$/);
  const tmp = await tempDir();
  try {
    const r = await arca(["config", "--json", "--config", file], { env: { HOME: tmp.path } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), EVERY_KEY);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("module: the options imply cache_dir, bind and gc keys; settings win", async () => {
  const toml = async (user: Json) =>
    await Deno.readTextFile((await evalModule(user)).systemd.services.arca.environment.ARCA_CONFIG);
  const plain = await toml({ enable: true });
  assert.equal(plain, 'bind = "127.0.0.1:5555"\ncache_dir = "/var/lib/arca"\n');
  const more = await toml({
    enable: true,
    bind: "::",
    port: 8080,
    gc: { maxSize: "50G", maxAge: "30d", interval: "2h" },
    settings: { priority: 30 },
  });
  assert.equal(
    more,
    'bind = "[::]:8080"\ncache_dir = "/var/lib/arca"\ngc_interval = "2h"\nmax_age = "30d"\n' +
      'max_size = "50G"\npriority = 30\n',
  );
  const over = await toml({ enable: true, port: 8080, settings: { bind: "10.0.0.1:9" } });
  assert.match(over, /^bind = "10\.0\.0\.1:9"$/m);
});

Deno.test("module: bad values and missing companions are refused at evaluation", async () => {
  for (
    const [user, why] of [
      [{ enable: true, port: "80" }, /services\.arca\.port' has a value that is not a 16 bit/],
      [{ enable: true, settings: { priority: 1.5 } }, /services\.arca\.settings' has a value/],
      [
        { enable: true, swarm: { staticPeer: [] } },
        /services\.arca\.swarm\.staticPeer' does not exist/,
      ],
      [{ enable: true, substituter: true }, /substituter needs services\.arca\.publicKey/],
      [{ enable: true, postBuildHook: true }, /postBuildHook pushes with a token/],
    ] as [Json, RegExp][]
  ) {
    const r = await evalStub(user, "/nix/store/00000000000000000000000000000000-arca");
    assert.notEqual(r.code, 0, JSON.stringify(user));
    assert.match(r.stderr, why);
  }
  // Disabled: the module adds nothing at all.
  assert.deepEqual(await evalModule({ enable: false, substituter: true }), {});
});

Deno.test("module: swarm, firewall, substituter and hook settings", async () => {
  const c = await evalModule({
    enable: true,
    port: 5555,
    bind: "0.0.0.0",
    openFirewall: true,
    publicKey: "cache-1:abc=",
    substituter: true,
    uploadTokensFile: "/run/keys/t",
    postBuildHook: true,
    swarm: { enable: true, openFirewall: true, staticPeers: ["a.lan:7071", "b.lan:7071"] },
  });
  assert.equal(
    c.systemd.services.arca.serviceConfig.ExecStart,
    "/nix/store/00000000000000000000000000000000-arca/bin/arca swarm --also-serve " +
      "--discovery-port 7070 --sync-port 7071 --http-port 5555 " +
      "--static-peer a.lan:7071 --static-peer b.lan:7071",
  );
  assert.deepEqual(c.networking.firewall, {
    allowedTCPPorts: [5555, 7071],
    allowedUDPPorts: [7070],
  });
  assert.deepEqual(c.nix.settings.substituters, ["http://127.0.0.1:5555"]);
  assert.deepEqual(c.nix.settings["trusted-public-keys"], ["cache-1:abc="]);
  const hook = await Deno.readTextFile(c.nix.settings["post-build-hook"]);
  assert.match(hook, /nix copy/);
  assert.match(hook, /http:\/\/arca:\$token@127\.0\.0\.1:5555\?compression=zstd/);
  assert.match(hook, /exit 0\n$/);
  const s = c.systemd.services.arca.serviceConfig;
  // What the swarm needs: UDP multicast and TCP on both families, interface listing.
  assert.deepEqual(s.RestrictAddressFamilies, ["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"]);
  for (const k of ["NoNewPrivileges", "PrivateTmp", "DynamicUser", "ProtectHome"]) {
    assert.equal(s[k], true, k);
  }
  assert.equal(s.ProtectSystem, "strict");
  assert.equal(s.StateDirectory, "arca");
  assert.equal(s.Restart, "on-failure");
  assert.equal("MemoryDenyWriteExecute" in s, false, "V8's JIT needs W+X memory");
  assert.deepEqual(s.SystemCallFilter, ["@system-service", "@pkey", "~@privileged"]);
  // Port 80 gets exactly the capability to bind it, and no user namespace (which would drop it).
  const low = (await evalModule({ enable: true, port: 80 })).systemd.services.arca.serviceConfig;
  assert.deepEqual(low.AmbientCapabilities, ["CAP_NET_BIND_SERVICE"]);
  assert.deepEqual(low.CapabilityBoundingSet, ["CAP_NET_BIND_SERVICE"]);
  assert.equal(low.PrivateUsers, false);
});

/** The unit file NixOS would write (one line per list element, as its systemd lib does). */
function unitFile(svc: Json): string {
  const value = (v: unknown) => typeof v === "boolean" ? (v ? "true" : "false") : String(v);
  const lines = (section: Record<string, unknown>) =>
    Object.entries(section).flatMap(([k, v]) =>
      Array.isArray(v) ? v.map((x) => `${k}=${value(x)}`) : [`${k}=${value(v)}`]
    ).join("\n");
  const env = Object.entries(svc.environment as Record<string, string>)
    .map(([k, v]) => `Environment="${k}=${v}"`).join("\n");
  return `[Unit]\nDescription=${svc.description}\nAfter=${svc.after.join(" ")}\n` +
    `Wants=${svc.wants.join(" ")}\n\n[Service]\n${env}\n${lines(svc.serviceConfig)}\n\n` +
    `[Install]\nWantedBy=${svc.wantedBy.join(" ")}\n`;
}

/** `bin/arca` as a wrapper running this checkout with deno, in place of the package. */
async function wrapperPackage(dir: string): Promise<string> {
  const pkg = `${dir}/arca-pkg`;
  await Deno.mkdir(`${pkg}/bin`, { recursive: true });
  // DENO_DIR: the unit points Deno's cache at the state directory, which only the
  // compiled binary can do without; deno run needs the checkout's module cache.
  const deno = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  await Deno.writeTextFile(
    `${pkg}/bin/arca`,
    `#!/bin/sh\nDENO_DIR='${deno}' exec '${Deno.execPath()}' run -A --quiet ` +
      `--v8-flags=${V8_FLAGS} '${ROOT}main.ts' "$@"\n`,
    { mode: 0o755 },
  );
  return pkg;
}

/** Splits ExecStart as systemd does for what escapeShellArgs writes (bare or single-quoted words). */
function words(cmd: string): string[] {
  return [...cmd.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) =>
    m[1] !== undefined ? m[1].replaceAll("'\\''", "'") : m[2]
  );
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("module: the unit verifies, starts Arca, takes the hook's pushes and stops on SIGTERM", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  try {
    const pkg = await wrapperPackage(tmp.path);
    const key = await makeKey(tmp.path, "module-test-1", { HOME: tmp.path });
    const tokens = `${tmp.path}/upload-tokens`;
    await Deno.writeTextFile(tokens, "# tokens\nhook-token\n", { mode: 0o600 });
    const port = freePort();
    const c = await evalModule({
      enable: true,
      port,
      signingKeyFile: key.secret,
      uploadTokensFile: tokens,
      postBuildHook: true,
      settings: { http_io: "portable" },
    }, pkg);
    const svc = c.systemd.services.arca;

    // systemd's own parser: every directive known and every value valid.
    const unit = `${tmp.path}/arca.service`;
    await Deno.writeTextFile(unit, unitFile(svc));
    const verify = await run("systemd-analyze", ["verify", "--man=no", unit]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), "", `systemd-analyze verify:\n${verify.stderr}`);
    const sec = await runOk("systemd-analyze", ["security", "--offline=true", unit]);
    const exposure = Number(/Overall exposure level for arca\.service: ([\d.]+)/.exec(sec)?.[1]);
    assert.ok(exposure <= 2, `exposure ${exposure}:\n${sec}`);

    // The credentials systemd would copy in (LoadCredential), and the state directory.
    const creds = `${tmp.path}/credentials`;
    await Deno.mkdir(creds);
    for (const spec of svc.serviceConfig.LoadCredential as string[]) {
      const [name, from] = spec.split(/:(.*)/s);
      await Deno.copyFile(from, `${creds}/${name}`);
      await Deno.chmod(`${creds}/${name}`, 0o400);
    }
    const state = `${tmp.path}/state`;
    await Deno.mkdir(state);
    const env: Record<string, string> = { PATH: "/usr/bin:/bin" };
    for (const [k, v] of Object.entries(svc.environment as Record<string, string>)) {
      env[k] = v.replaceAll("%d", creds).replaceAll("/var/lib/arca", state);
    }
    const [exe, ...args] = words(svc.serviceConfig.ExecStart);
    assert.equal(exe, `${pkg}/bin/arca`);
    const child = new Deno.Command(exe, {
      args,
      env,
      clearEnv: true,
      cwd: state,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      let out = "";
      const deadline = Date.now() + 20_000;
      while (!out.includes(`http://127.0.0.1:${port}`) && Date.now() < deadline) {
        const r = await stdout.read();
        if (r.done) break;
        out += r.value;
      }
      assert.match(out, new RegExp(`serving ${state} \\(kv\\) on http://127\\.0\\.0\\.1:${port}`));
      const url = `http://127.0.0.1:${port}`;
      const info = await fetch(`${url}/nix-cache-info`);
      assert.equal(info.status, 200);
      assert.match(await info.text(), /^StoreDir: \/nix\/store$/m);
      const page = await (await fetch(`${url}/`)).text();
      assert.ok(page.includes(key.pub), "the status page shows the key from the credential");

      // The hook, as nix-daemon runs it after a build: the output lands in the cache.
      const built = await buildPath("arca-hook-out", "echo hooked > $out", nix);
      const hook = await run("bash", [c.nix.settings["post-build-hook"]], {
        env: { ...nix, OUT_PATHS: built },
      });
      assert.equal(hook.code, 0, hook.stderr);
      const pushed = await fetch(`${url}/${built.slice(11, 43)}.narinfo`);
      const narinfo = await pushed.text();
      assert.equal(pushed.status, 200, `${narinfo}\n${hook.stderr}`);
      assert.match(narinfo, /^Sig: module-test-1:/m);
      // And a hook that cannot push still exits 0 (a build never fails for it).
      const failing = await run("bash", [c.nix.settings["post-build-hook"]], {
        env: { ...nix, OUT_PATHS: "/nix/store/00000000000000000000000000000000-gone" },
      });
      assert.equal(failing.code, 0);
      assert.match(failing.stderr, /pushing .* failed/);
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await stdout.cancel();
      const err = await stderr;
      assert.equal(status.code, 0, err);
      assert.match(err, /arca: stopped/);
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("flake: outputs evaluate; the package compiles deno.json's task against node_modules built from deno.lock", async () => {
  const tmp = await tempDir();
  try {
    const nixConf = await nixEnv();
    // Tarballs of the npm packages as the registry has them (package/ prefix), made from
    // the node_modules Deno installed here: stand-ins for the fetches, which need no network.
    const tarballs: Record<string, string> = {};
    const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`));
    for (const k of Object.keys(lock.npm)) {
      const at = k.lastIndexOf("@");
      const [name, version] = [k.slice(0, at), k.slice(at + 1)];
      const file = `${name.replace("@", "").replace("/", "-")}-${version}.tgz`;
      await runOk("tar", [
        "-czf",
        `${tmp.path}/${file}`,
        "-C",
        `${ROOT}node_modules/.deno/${name.replace("/", "+")}@${version}/node_modules/${name}`,
        "--transform",
        "s,^\\.,package,",
        ".",
      ]);
      tarballs[file] = `${tmp.path}/${file}`;
    }
    const r = await run("nix-instantiate", [
      "--eval",
      "--strict",
      "--json",
      `${ROOT}tests/fixtures/flake_stub.nix`,
      "--argstr",
      "tarballsJson",
      JSON.stringify(tarballs),
    ], { env: nixConf });
    assert.equal(r.code, 0, r.stderr);
    const f = JSON.parse(r.stdout);
    assert.deepEqual(f.systems, ["aarch64-linux", "x86_64-linux"]);
    assert.equal(f.module, true);
    assert.equal(f.app.program, `/nix/store/00000000000000000000000000000000-arca-0.1.0/bin/arca`);
    assert.deepEqual(f.devShell.slice(0, 3), ["deno", "nix", "nginx"]);

    // Every npm package of deno.lock, pinned by its own integrity hash.
    const fetched = new Map(f.npm.fetches.map((x: Json) => [`${x.name}@${x.version}`, x]));
    assert.deepEqual([...fetched.keys()].sort(), Object.keys(lock.npm).sort());
    for (const [k, x] of fetched as Map<string, Json>) {
      assert.equal(x.hash, lock.npm[k].integrity, k);
      const base = x.name.replace(/^@[^/]+\//, "");
      assert.equal(x.url, `https://registry.npmjs.org/${x.name}/-/${base}-${x.version}.tgz`);
    }

    // The compile command is deno.json's task, plus two flags.
    const task = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks.compile as string;
    assert.equal(
      f.package.compileCommand,
      task.replace(/^deno compile /, "deno compile --node-modules-dir=manual --no-check "),
    );
    assert.match(f.package.buildPhase, /export DENORT_BIN=\/nix\/store\/\S+-deno\/bin\/denort/);
    assert.ok(f.package.buildPhase.includes(f.package.compileCommand));
    assert.equal(f.package.dontFixup, true);
    assert.equal(f.package.mainProgram, "arca");

    // Run the node_modules script, then the sources on it: `deno run` and the compile
    // command itself, with this deno standing in for denort (its output is no release
    // binary, but the module graph, the includes and the npm layout are checked).
    const src = `${tmp.path}/src`;
    await Deno.mkdir(src);
    await runOk("sh", [
      "-c",
      `git -C '${ROOT}' ls-files -z --cached --others --exclude-standard | tar -C '${ROOT}' --null -T - -cf - | tar -C '${src}' -xf -`,
    ]);

    // flake.nix as a real flake: `nix eval` with nixpkgs overridden by the stub.
    const stub = `${tmp.path}/stub-nixpkgs`;
    await Deno.mkdir(stub);
    await Deno.copyFile(`${ROOT}tests/fixtures/stub_nixpkgs.nix`, `${stub}/stub.nix`);
    await Deno.writeTextFile(`${stub}/flake.nix`, "{ outputs = _: import ./stub.nix { }; }\n");
    const flakeEval = (attr: string, apply = "x: x") =>
      runOk("nix", [
        "eval",
        "--no-write-lock-file",
        "--override-input",
        "nixpkgs",
        `path:${stub}`,
        "--json",
        "--apply",
        apply,
        `path:${src}#${attr}`,
      ], {
        env: {
          ...nixConf,
          NIX_CONFIG: `${nixConf.NIX_CONFIG}\nexperimental-features = nix-command flakes`,
        },
      }).then((o) => JSON.parse(o));
    assert.equal(
      await flakeEval("packages.x86_64-linux.default.passthru.compileCommand"),
      f.package.compileCommand,
    );
    assert.equal(await flakeEval("apps.aarch64-linux.default.type"), "app");
    assert.equal(await flakeEval("nixosModules.default", "builtins.isFunction"), true);
    await runOk("bash", ["-e", "-c", f.npm.script], { env: { out: `${src}/node_modules` } });
    const denoDir = `${tmp.path}/deno-dir`;
    const version = await runOk(Deno.execPath(), [
      "run",
      "--node-modules-dir=manual",
      "-A",
      "main.ts",
      "--version",
    ], { cwd: src, env: { DENO_DIR: denoDir } });
    assert.equal(version.trim(), "arca 0.1.0");
    const compile = await run("sh", ["-c", f.package.compileCommand], {
      cwd: src,
      env: {
        DENO_DIR: denoDir,
        DENORT_BIN: Deno.execPath(),
        PATH: `${Deno.execPath().replace(/\/deno$/, "")}:/usr/bin:/bin`,
      },
    });
    assert.equal(compile.code, 0, compile.stderr);
    assert.ok((await Deno.stat(`${src}/arca`)).size > 50e6);
  } finally {
    await tmp.cleanup();
  }
});
