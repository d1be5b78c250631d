/**
 * Clients that go away mid-download are normal (Ctrl-C, timeouts, load
 * generators): they must end that response only, never take the NAR out of
 * service. Covers both serving paths: a NAR that is one whole pack (streamed
 * by Deno from the file) and one with repeated chunks (streamed run by run).
 */
import assert from "node:assert/strict";
import { arca, buildPath, deleteStorePaths, nixEnv, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv } from "./_cache_fixture.ts";

Deno.test("a download cut short by the client leaves the NAR in service", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const plain = await buildPath(
    "arca-plain",
    "mkdir $out; head -c 12000000 /dev/urandom > $out/a",
    nix,
  );
  // The same random 6 MB twice: the second copy's chunks repeat the first's.
  const repeated = await buildPath(
    "arca-repeated",
    "mkdir $out; head -c 6000000 /dev/urandom > $out/a; cp $out/a $out/b",
    nix,
  );
  const imp = await arca(["import", plain, repeated], { env });
  assert.equal(imp.code, 0, imp.stderr);
  const server = await startServer([], env);
  try {
    for (const p of [plain, repeated]) {
      const hashPart = p.slice(11, 43);
      const narinfo = await (await fetch(`${server.url}/${hashPart}.narinfo`)).text();
      const url = /^URL: (.*)$/m.exec(narinfo)![1];
      for (let i = 0; i < 3; i++) {
        const ac = new AbortController();
        const res = await fetch(`${server.url}/${url}`, { signal: ac.signal });
        assert.equal(res.status, 200);
        const reader = res.body!.getReader();
        await reader.read();
        ac.abort();
        await reader.cancel().catch(() => {});
      }
      await new Promise((r) => setTimeout(r, 300));
      const after = await fetch(`${server.url}/${hashPart}.narinfo`);
      assert.equal(after.status, 200, `${p} must still be served`);
      await after.body?.cancel();
      const full = await fetch(`${server.url}/${url}`);
      assert.equal(full.status, 200);
      const size = Number(/^FileSize: (\d+)$/m.exec(narinfo)![1]);
      assert.equal((await full.arrayBuffer()).byteLength, size);
    }
    const audit = await arca(["audit", "--json"], { env });
    assert.doesNotMatch(audit.stdout, /Quarantine/);
  } finally {
    await server.stop();
    await deleteStorePaths([plain, repeated], nix);
    await tmp.cleanup();
  }
});
