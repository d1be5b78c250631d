/**
 * `arca sign-keygen` end to end: files and modes, refusing to overwrite,
 * `--force`, exit codes, the default directory, and a key that real Nix
 * accepts: `nix store verify` on a file:// cache and a substitution with
 * require-sigs (the default).
 */
import assert from "node:assert/strict";
import { parseNarinfo } from "../lib/narinfo/parse_narinfo.ts";
import { formatNarinfo } from "../lib/narinfo/format_narinfo.ts";
import { readPublicKeyFile, readSecretKeyFile } from "../lib/io/key_files.ts";
import { formatPublicKey, parsePublicKey, publicKeyOf, signNarinfo } from "../lib/sign/mod.ts";
import { arca, buildPath, nixEnv, run, runOk, tempDir } from "./_run.ts";

const NO_CONFIG = { ARCA_CONFIG: "" }; // the test host's own setting must not leak in

async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

Deno.test("sign-keygen: writes NAME.secret (0600) and NAME.pub (0644) and prints the trust line", async () => {
  const t = await tempDir();
  try {
    const dir = `${t.path}/new/keys`;
    const r = await arca(["sign-keygen", "--name", "cache.example.org-1", "--out-dir", dir], {
      env: NO_CONFIG,
    });
    assert.equal(r.code, 0, r.stderr);
    const sec = `${dir}/cache.example.org-1.secret`;
    const pub = `${dir}/cache.example.org-1.pub`;
    assert.equal(await mode(sec), 0o600);
    assert.equal(await mode(pub), 0o644);
    const k = await readSecretKeyFile(sec);
    const p = await readPublicKeyFile(pub);
    assert.equal(k.name, "cache.example.org-1");
    assert.deepEqual(p, publicKeyOf(k));
    assert.match(r.stdout, new RegExp(sec.replaceAll(".", "\\.")));
    assert.ok(r.stdout.includes(pub));
    assert.ok(r.stdout.includes(`trusted-public-keys = ${formatPublicKey(p)}\n`));
    assert.equal((await Deno.readTextFile(pub)).trim(), formatPublicKey(p));
    // Two runs never produce the same key.
    const r2 = await arca(["sign-keygen", "--name", "other", "--out-dir", dir], { env: NO_CONFIG });
    assert.equal(r2.code, 0, r2.stderr);
    assert.notDeepEqual((await readSecretKeyFile(`${dir}/other.secret`)).seed, k.seed);
  } finally {
    await t.cleanup();
  }
});

Deno.test("sign-keygen: refuses to overwrite without --force; --force replaces with a 0600 secret", async () => {
  const t = await tempDir();
  try {
    const args = ["sign-keygen", "--name", "k1", "--out-dir", t.path];
    assert.equal((await arca(args, { env: NO_CONFIG })).code, 0);
    const before = await Deno.readTextFile(`${t.path}/k1.secret`);
    const again = await arca(args, { env: NO_CONFIG });
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /refusing to overwrite existing key file .*k1\.secret \(use --force\)/,
    );
    assert.equal(await Deno.readTextFile(`${t.path}/k1.secret`), before);
    // Only the public file present still blocks: the pair must stay a pair.
    await Deno.remove(`${t.path}/k1.secret`);
    const half = await arca(args, { env: NO_CONFIG });
    assert.equal(half.code, 1);
    assert.match(half.stderr, /k1\.pub/);
    // A loosened old secret must not pass its mode on to the new one.
    await Deno.writeTextFile(`${t.path}/k1.secret`, before, { mode: 0o644 });
    await Deno.chmod(`${t.path}/k1.secret`, 0o644);
    const forced = await arca([...args, "--force"], { env: NO_CONFIG });
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(await Deno.readTextFile(`${t.path}/k1.secret`), before);
    assert.equal(await mode(`${t.path}/k1.secret`), 0o600);
    const k = await readSecretKeyFile(`${t.path}/k1.secret`);
    assert.deepEqual(await readPublicKeyFile(`${t.path}/k1.pub`), publicKeyOf(k));
    const leftovers = [...Deno.readDirSync(t.path)].map((e) => e.name).filter((n) =>
      n.includes(".tmp-")
    );
    assert.deepEqual(leftovers, []);
  } finally {
    await t.cleanup();
  }
});

Deno.test("sign-keygen: usage errors exit 2", async () => {
  const t = await tempDir();
  try {
    const cases: [string[], RegExp][] = [
      [["sign-keygen", "--out-dir", t.path], /missing --name/],
      [["sign-keygen", "--name", "../evil", "--out-dir", t.path], /bad key name/],
      [["sign-keygen", "--name", "a:b", "--out-dir", t.path], /bad key name/],
      [["sign-keygen", "--name", ".hidden", "--out-dir", t.path], /bad key name/],
      [["sign-keygen", "--name", "k", "extra", "--out-dir", t.path], /unexpected argument 'extra'/],
      [["sign-keygen", "--name", "k", "--bogus"], /bogus/],
    ];
    for (const [args, re] of cases) {
      const r = await arca(args, { env: NO_CONFIG });
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, re);
    }
    assert.deepEqual([...Deno.readDirSync(t.path)], [], "nothing written");
    const help = await arca(["sign-keygen", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--out-dir DIR/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("sign-keygen: defaults to the config file's directory, else $XDG_CONFIG_HOME/arca", async () => {
  const t = await tempDir();
  try {
    const r = await arca(["--config", `${t.path}/conf/config.toml`, "sign-keygen", "--name", "a"], {
      env: NO_CONFIG,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await Deno.stat(`${t.path}/conf/a.secret`)).isFile);
    const r2 = await arca(["sign-keygen", "--name", "b"], {
      env: { ...NO_CONFIG, XDG_CONFIG_HOME: `${t.path}/xdg` },
    });
    assert.equal(r2.code, 0, r2.stderr);
    assert.ok((await Deno.stat(`${t.path}/xdg/arca/b.pub`)).isFile);
  } finally {
    await t.cleanup();
  }
});

Deno.test("key files: a secret readable by others, or not a regular file, is refused", async () => {
  const t = await tempDir();
  try {
    assert.equal(
      (await arca(["sign-keygen", "--name", "k", "--out-dir", t.path], { env: NO_CONFIG })).code,
      0,
    );
    await Deno.chmod(`${t.path}/k.secret`, 0o640);
    await assert.rejects(
      readSecretKeyFile(`${t.path}/k.secret`),
      /readable by group or others \(mode 0640\); run: chmod 600/,
    );
    await assert.rejects(readSecretKeyFile(t.path), /is not a regular file/);
    await assert.rejects(readSecretKeyFile(`${t.path}/none.secret`), /cannot read secret key file/);
    await Deno.writeTextFile(`${t.path}/bad.secret`, "k:AAAA\n", { mode: 0o600 });
    await assert.rejects(
      readSecretKeyFile(`${t.path}/bad.secret`),
      /bad\.secret: .*expected 64 bytes, got 3/,
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("sign-keygen: its key signs a narinfo that Nix verifies and substitutes with require-sigs", async () => {
  const env = await nixEnv();
  const t = await tempDir();
  try {
    const keyDir = `${t.path}/keys`;
    for (const name of ["arca-test-1", "arca-other-1"]) {
      const r = await arca(["sign-keygen", "--name", name, "--out-dir", keyDir], {
        env: NO_CONFIG,
      });
      assert.equal(r.code, 0, r.stderr);
    }
    const key = await readSecretKeyFile(`${keyDir}/arca-test-1.secret`);
    const pub = (await Deno.readTextFile(`${keyDir}/arca-test-1.pub`)).trim();
    const otherPub = (await Deno.readTextFile(`${keyDir}/arca-other-1.pub`)).trim();
    assert.deepEqual(parsePublicKey(pub), publicKeyOf(key));

    const p = await buildPath(
      "keygen-probe",
      "mkdir $out; echo signed > $out/f; echo $out > $out/self",
      env,
    );
    const cache = `${t.path}/cache`;
    const url = `file://${cache}`;
    await runOk("nix", ["copy", "--to", url, p], { env });
    const file = `${cache}/${p.slice(11, 43)}.narinfo`;
    const unsigned = parseNarinfo(await Deno.readTextFile(file));
    assert.deepEqual(unsigned.sigs, [], "nix copy without secret-key writes no Sig");

    const verify = (trusted: string, extra: string[] = []) =>
      run("nix", [
        "store",
        "verify",
        "--store",
        url,
        "-r",
        p,
        "--option",
        "trusted-public-keys",
        trusted,
        ...extra,
      ], {
        env,
      });
    // Unsigned: untrusted (exit bit 2), whatever the key.
    const before = await verify(pub);
    assert.equal(before.code, 2, before.stderr);
    assert.match(before.stderr, /is untrusted/);

    await Deno.writeTextFile(file, formatNarinfo(signNarinfo(unsigned, key)));
    const ok = await verify(pub);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await verify(pub, ["--sigs-needed", "1"])).code, 0);
    const two = await verify(pub, ["--sigs-needed", "2"]); // only one signature exists
    assert.equal(two.code, 2, two.stderr);
    const wrong = await verify(otherPub);
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.match(wrong.stderr, /is untrusted/);

    // Substitution with require-sigs (Nix's default): delete the path, fetch it back.
    await runOk("nix-store", ["--delete", p], { env });
    const subst = (trusted: string) =>
      run("nix-store", [
        "-r",
        p,
        "--option",
        "substituters",
        url,
        "--option",
        "trusted-public-keys",
        trusted,
      ], {
        env,
      });
    const refused = await subst(otherPub);
    assert.notEqual(refused.code, 0, "a cache signed by an untrusted key is not used");
    assert.notEqual((await run("nix-store", ["--check-validity", p], { env })).code, 0);
    const fetched = await subst(pub);
    assert.equal(fetched.code, 0, fetched.stderr);
    await runOk("nix-store", ["--verify-path", p], { env });
    assert.equal((await Deno.readTextFile(`${p}/f`)).trim(), "signed");
  } finally {
    await t.cleanup();
  }
});
