/**
 * Keys made by Nix work in Arca and give the same bytes: a key from
 * `nix-store --generate-binary-cache-key` loads, its public half matches
 * Nix's, and signing a narinfo yields exactly the Sig that `nix store sign`
 * writes (ed25519 is deterministic), over a path with several references.
 */
import assert from "node:assert/strict";
import { fingerprint, formatNarinfo, parseNarinfo } from "../lib/narinfo/mod.ts";
import {
  formatPublicKey,
  parsePublicKey,
  parseSecretKey,
  publicKeyOf,
  signMessage,
  signNarinfo,
  verifyNarinfo,
} from "../lib/sign/mod.ts";
import { readSecretKeyFile } from "../lib/io/key_files.ts";
import { buildPath, nixEnv, run, runOk, tempDir } from "./_run.ts";

Deno.test("nix keys: a Nix-generated key signs exactly as `nix store sign` does", async () => {
  const env = await nixEnv();
  const t = await tempDir();
  try {
    const sk = `${t.path}/sk`;
    const pk = `${t.path}/pk`;
    await runOk("nix-store", ["--generate-binary-cache-key", "interop-test-1", sk, pk], { env });
    const key = parseSecretKey(await Deno.readTextFile(sk));
    // Nix creates the secret file 0600, so Arca's file reader accepts it as is.
    assert.deepEqual(await readSecretKeyFile(sk), key);
    const pubText = await Deno.readTextFile(pk);
    assert.equal(key.name, "interop-test-1");
    assert.equal(formatPublicKey(publicKeyOf(key)), pubText.trim());
    assert.deepEqual(parsePublicKey(pubText), publicKeyOf(key));

    const a = await buildPath("interop-a", "echo a > $out", env);
    const b = await buildPath("interop-b", "echo b > $out", env);
    const top = await buildPath(
      "interop-top",
      "mkdir $out; echo $a $b > $out/refs; echo $out > $out/self",
      env,
      {
        deps: { b, a },
      },
    );
    const url = `file://${t.path}/cache`;
    await runOk("nix", ["copy", "--to", url, top], { env });
    const file = `${t.path}/cache/${top.slice(11, 43)}.narinfo`;
    const unsigned = parseNarinfo(await Deno.readTextFile(file));
    assert.equal(unsigned.references.length, 3);
    assert.deepEqual(unsigned.sigs, []);

    const ours = signNarinfo(unsigned, key);
    await runOk("nix", ["store", "sign", "--key-file", sk, "--store", url, top], { env });
    const nixText = await Deno.readTextFile(file);
    const theirs = parseNarinfo(nixText);
    assert.equal(theirs.sigs.length, 1);
    assert.equal(ours.sigs[0], theirs.sigs[0]);
    assert.equal(signMessage(key, fingerprint(unsigned)), theirs.sigs[0]);
    assert.equal(formatNarinfo(ours), nixText, "the whole signed narinfo is byte-identical");
    assert.ok(verifyNarinfo(theirs, [parsePublicKey(pubText)]));

    // Nix checks the fingerprint, not just the Sig's shape: a narinfo whose
    // signature covers another NarSize is untrusted.
    await Deno.writeTextFile(
      file,
      formatNarinfo(signNarinfo({ ...unsigned, narSize: unsigned.narSize + 1 }, key)).replace(
        `NarSize: ${unsigned.narSize + 1}\n`,
        `NarSize: ${unsigned.narSize}\n`,
      ),
    );
    const bad = await run("nix", [
      "store",
      "verify",
      "--store",
      url,
      top,
      "--option",
      "trusted-public-keys",
      pubText.trim(),
    ], {
      env,
    });
    assert.equal(bad.code, 2, bad.stderr);
    assert.ok(
      !verifyNarinfo(parseNarinfo(await Deno.readTextFile(file)), [parsePublicKey(pubText)]),
    );
  } finally {
    await t.cleanup();
  }
});
