/**
 * Key rotation with `arca sign`: paths imported with an old key get a second
 * signature by a new one (old kept), and a real Nix that trusts only the new
 * key substitutes them from `serve`. Both backends.
 */
import assert from "node:assert/strict";
import { arca, buildPath, deleteStorePaths, nixEnv, runOk, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv, makeKey, substitute } from "./_cache_fixture.ts";

async function rotation(backend: "kv" | "filesystem") {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_BACKEND: backend };
  const oldKey = await makeKey(tmp.path, "rotate-old-1", env);
  const newKey = await makeKey(tmp.path, "rotate-new-2", env);
  const a = await buildPath("sign-a", "mkdir -p $out; echo a > $out/a", nix);
  const b = await buildPath("sign-b", "mkdir -p $out; echo $a > $out/b", nix, { deps: { a } });
  const imp = await arca(["import-closure", "--signing-key", oldKey.secret, b], { env });
  assert.equal(imp.code, 0, imp.stderr);
  // Deno KV's watch does not see other processes' commits, so the server starts after
  // signing here (see the report on following changes across processes).
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const s1 = await arca(["sign", "--key", newKey.secret, "--all"], { env });
    assert.equal(s1.code, 0, s1.stderr);
    assert.match(s1.stdout, /signed 2 path\(s\) with rotate-new-2; 0 already signed/);
    const s2 = await arca(["sign", "--key", newKey.secret, b], { env });
    assert.equal(s2.code, 0, s2.stderr);
    assert.match(s2.stdout, /signed 0 path\(s\).*; 1 already signed/);
    const missing = await arca(["sign", "--key", newKey.secret, `/nix/store/${"0".repeat(32)}-x`], {
      env,
    });
    assert.equal(missing.code, 1);

    server = await startServer([], env);
    let info = "";
    for (let i = 0; i < 50 && !/rotate-new-2:/.test(info); i++) {
      info = await (await fetch(`${server.url}/${b.slice(11, 43)}.narinfo`)).text();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(info, /^Sig: rotate-new-2:/m);
    assert.match(info, /^Sig: rotate-old-1:/m);

    await deleteStorePaths([b, a], nix);
    const ok = await substitute([b], server.url, newKey.pub, nix);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await runOk("cat", [`${b}/b`])).trim(), a);
  } finally {
    await server?.stop();
    await tmp.cleanup();
  }
}

Deno.test("arca sign adds a new key's signature (kv backend)", () => rotation("kv"));
Deno.test("arca sign adds a new key's signature (filesystem backend)", () =>
  rotation("filesystem"));
