/**
 * Every refusal of the write path, against a real `arca serve`: each is a 4xx
 * with its reason, and `arca status --json` / `arca list --json` show the
 * cache unchanged afterwards (compared, not assumed).
 */
import assert from "node:assert/strict";
import { arca, buildPath, nixEnv, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv, makeKey } from "./_cache_fixture.ts";
import { readSecretKeyFile } from "../lib/io/key_files.ts";
import { dumpPath, nar, narinfoFor, put, snapshot } from "./_push_fixture.ts";

const TOKEN = "refusal-token";

Deno.test("uploads are refused for each client mistake and change nothing", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const trusted = await makeKey(tmp.path, "pusher-1", env);
  const stranger = await makeKey(tmp.path, "stranger-1", env);
  await Deno.mkdir(`${tmp.path}/home/.config/arca`, { recursive: true });
  await Deno.writeTextFile(
    `${tmp.path}/home/.config/arca/config.toml`,
    `upload_tokens = ["old-token", "${TOKEN}"]\ntrusted_public_keys = ["${trusted.pub}"]\n`,
  );
  const key = await readSecretKeyFile(trusted.secret);
  const strangerKey = await readSecretKeyFile(stranger.secret);
  const a = await buildPath("refuse-a", "mkdir -p $out; echo a > $out/a", nix);
  const b = await buildPath("refuse-b", "mkdir -p $out; echo $a > $out/b", nix, { deps: { a } });
  const narA = await dumpPath(a, nix);
  const narB = await dumpPath(b, nix);
  const aBase = a.slice(11), bBase = b.slice(11);
  const hashA = aBase.slice(0, 32), hashB = bBase.slice(0, 32);

  const server = await startServer([], env);
  const closed = await startServer([], { ...env, ARCA_CONFIG: await emptyConfig(tmp.path) });
  try {
    const url = server.url;
    const empty = await snapshot(arca, env);
    const unchanged = async (since: string, what: string) =>
      assert.equal(await snapshot(arca, env), since, `${what} changed the cache`);

    // No token configured at all: uploads are off, and say so.
    let r = await put(closed.url, `/nar/${narA.fileHash32}.nar`, narA.bytes, TOKEN);
    assert.equal(r.status, 403);
    assert.match(r.text, /no upload token is configured/);

    // Missing and wrong tokens: 401 with a Basic challenge.
    r = await put(url, `/nar/${narA.fileHash32}.nar`, narA.bytes);
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate") ?? "", /^Basic realm="arca"/);
    r = await put(url, `/nar/${narA.fileHash32}.nar`, narA.bytes, "nope");
    assert.equal(r.status, 401);
    assert.match(r.text, /wrong upload token/);
    assert.equal(
      (await fetch(`${url}/nar/${narA.fileHash32}.nar`, { method: "HEAD" })).status,
      404,
    );
    await unchanged(empty, "a refused token");

    // A truncated NAR, named by its own hash (so only the NAR check can catch it).
    const cut = nar(narA.bytes.slice(0, Math.floor(narA.bytes.length / 2)));
    r = await put(url, `/nar/${cut.fileHash32}.nar`, cut.bytes, TOKEN);
    assert.equal(r.status, 400);
    assert.match(r.text, /not a valid NAR/);
    // A body that does not hash to its name (cut in transit).
    r = await put(url, `/nar/${narA.fileHash32}.nar`, cut.bytes, TOKEN);
    assert.equal(r.status, 400);
    assert.match(r.text, /hash to/);
    // An unsupported compression.
    r = await put(url, `/nar/${narA.fileHash32}.nar.lz4`, narA.bytes, TOKEN);
    assert.equal(r.status, 415);
    await unchanged(empty, "a refused NAR");
    assert.equal((await fetch(`${url}/nar/${cut.fileHash32}.nar`, { method: "HEAD" })).status, 404);

    // A narinfo whose NAR was never uploaded.
    r = await put(url, `/${hashA}.narinfo`, narinfoFor(a, narA, [], key), TOKEN);
    assert.equal(r.status, 409);
    assert.match(r.text, /no NAR with NarHash/);
    await unchanged(empty, "a narinfo without its NAR");

    // Upload both NARs (the old token still works: several tokens are allowed).
    r = await put(url, `/nar/${narA.fileHash32}.nar`, narA.bytes, "old-token");
    assert.equal(r.status, 200, r.text);
    r = await put(url, `/nar/${narB.fileHash32}.nar`, narB.bytes, TOKEN);
    assert.equal(r.status, 200, r.text);
    const head = await fetch(`${url}/nar/${narA.fileHash32}.nar`, { method: "HEAD" });
    assert.equal(head.status, 200, "HEAD nar/<uploaded name> must say it is there");
    const stored = await snapshot(arca, env);
    assert.match(stored, /"paths": 0/);

    // A NarHash that matches no NAR received (that of the refused, truncated one), and a
    // wrong NarSize.
    r = await put(url, `/${hashA}.narinfo`, narinfoFor(a, cut, [], key), TOKEN);
    assert.equal(r.status, 409);
    r = await put(
      url,
      `/${hashA}.narinfo`,
      narinfoFor(a, narA, [], key, { narSize: narA.bytes.length + 8 }),
      TOKEN,
    );
    assert.equal(r.status, 400);
    assert.match(r.text, /NarSize/);
    // A StorePath that is not the one in the URL; garbage.
    r = await put(url, `/${hashB}.narinfo`, narinfoFor(a, narA, [], key), TOKEN);
    assert.equal(r.status, 400);
    r = await put(url, `/${hashA}.narinfo`, "StorePath: nope\n", TOKEN);
    assert.equal(r.status, 400);
    // A reference not in the cache yet.
    r = await put(url, `/${hashB}.narinfo`, narinfoFor(b, narB, [aBase], key), TOKEN);
    assert.equal(r.status, 409);
    assert.match(r.text, /references not in the cache/);
    // Unsigned, and signed by a key that is not trusted.
    r = await put(url, `/${hashA}.narinfo`, narinfoFor(a, narA, []), TOKEN);
    assert.equal(r.status, 403);
    assert.match(r.text, /no signature by a trusted key/);
    r = await put(url, `/${hashA}.narinfo`, narinfoFor(a, narA, [], strangerKey), TOKEN);
    assert.equal(r.status, 403);
    await unchanged(stored, "a refused narinfo");

    // The right ones are accepted, references first.
    r = await put(url, `/${hashA}.narinfo`, narinfoFor(a, narA, [], key), TOKEN);
    assert.equal(r.status, 200, r.text);
    r = await put(url, `/${hashB}.narinfo`, narinfoFor(b, narB, [aBase], key), TOKEN);
    assert.equal(r.status, 200, r.text);
    const info = await (await fetch(`${url}/${hashB}.narinfo`)).text();
    assert.match(info, /^Compression: zstd$/m);
    assert.match(info, /^Sig: pusher-1:/m);
    assert.match(await snapshot(arca, env), /"paths": 2/);
  } finally {
    await server.stop();
    await closed.stop();
    await tmp.cleanup();
  }
});

async function emptyConfig(dir: string): Promise<string> {
  await Deno.writeTextFile(`${dir}/empty.toml`, "");
  return `${dir}/empty.toml`;
}
