/**
 * The NAR encoder and parser against real Nix 2.8: store paths built by
 * nix-build must dump byte for byte as `nix-store --dump` does, hash as
 * `nix-store -q --hash` says, round-trip through the parser, and a 100 MB
 * file must stream in flat memory.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encodeNarEvents, parseNar } from "../lib/nar/mod.ts";
import { narDumpPath, narSourceFromPath } from "../lib/io/nar_source.ts";
import { buildPath, nixEnv, run, runOk } from "./_run.ts";
import { collect } from "./_nar_fixtures.ts";

const env = await nixEnv();

const TREE = `
set -e
mkdir -p $out/dir/sub $out/empty-dir
printf 'hello\\n' > $out/hello.txt
: > $out/empty
printf '#!/bin/sh\\necho hi\\n' > $out/run.sh && chmod 755 $out/run.sh
printf 'x' > $out/owner-x && chmod 744 $out/owner-x
printf 'y' > $out/group-x && chmod 654 $out/group-x
for n in B a _ Z aa A 0 é ü 日本語 ключ 'space name' '.hidden' 'a-b' 'a.b'; do
  printf '%s' "$n" > "$out/dir/$n"
done
ln -s hello.txt $out/link-file
ln -s dir/sub $out/link-dir
ln -s /nonexistent/dangling $out/link-dangling
ln -s 'ünïcode target' $out/link-unicode
d=$out/deep
for i in $(seq 60); do d=$d/n$i; done
mkdir -p $d && printf 'bottom' > $d/leaf
head -c 5000 /dev/urandom > $out/dir/sub/random.bin
`;

/** `nix-store --dump` output as bytes. */
async function nixDump(path: string): Promise<Uint8Array> {
  const out = await new Deno.Command("nix-store", { args: ["--dump", path], env, stdout: "piped" })
    .output();
  assert.equal(out.code, 0);
  return out.stdout;
}

/** Nix's own NAR hash of a store path, as base16. */
async function nixHashHex(path: string): Promise<string> {
  const h = (await runOk("nix-store", ["-q", "--hash", path], { env })).trim();
  return (await runOk("nix", ["hash", "to-base16", h], { env })).trim();
}

async function deletePath(path: string): Promise<void> {
  await run("nix-store", ["--delete", path], { env });
}

Deno.test("narDumpPath is byte-identical to nix-store --dump on a varied store path", async () => {
  const p = await buildPath("arca-nar-tree", TREE, env);
  try {
    const ours = await collect(narDumpPath(p));
    const theirs = await nixDump(p);
    assert.equal(ours.length, theirs.length);
    assert.ok(ours.every((b, i) => b === theirs[i]), "same bytes");
    assert.equal(createHash("sha256").update(ours).digest("hex"), await nixHashHex(p));
    // Round trip through the parser, fed in awkward 13-byte pieces.
    const pieces = Array.from(
      { length: Math.ceil(ours.length / 13) },
      (_, i) => ours.slice(i * 13, i * 13 + 13),
    );
    const again = await collect(
      ReadableStream.from(pieces).pipeThrough(parseNar()).pipeThrough(encodeNarEvents()),
    );
    assert.deepEqual(again, theirs);
  } finally {
    await deletePath(p);
  }
});

Deno.test("single-file and symlink store paths dump as Nix does", async () => {
  const paths = [
    await buildPath("arca-nar-file", "printf 'just a file' > $out", env),
    await buildPath("arca-nar-exe", "printf '#!/bin/sh\\n' > $out && chmod +x $out", env),
    await buildPath("arca-nar-emptyfile", ": > $out", env),
    await buildPath("arca-nar-link", "ln -s /dangling/target $out", env),
    await buildPath("arca-nar-emptydir", "mkdir $out", env),
  ];
  try {
    for (const p of paths) {
      assert.deepEqual(await collect(narDumpPath(p)), await nixDump(p), p);
    }
  } finally {
    for (const p of paths) await deletePath(p);
  }
});

/** Runs tests/fixtures/nar_dump_rss.ts on `path` in a fresh process. */
async function rssRun(path: string, mode: "nar" | "raw") {
  const fixture = new URL("./fixtures/nar_dump_rss.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fixture, path, mode],
    stdout: "piped",
  }).output();
  assert.equal(out.code, 0);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as {
    sha256: string;
    size: number;
    baseline: number;
    peak: number;
  };
}

Deno.test("a 100 MB file dumps as Nix does, in flat memory", async () => {
  const p = await buildPath("arca-nar-big", "head -c 100000000 /dev/urandom > $out", env);
  try {
    const r = await rssRun(p, "nar");
    // Nix's dump, hashed while streaming.
    const nix = new Deno.Command("nix-store", { args: ["--dump", p], env, stdout: "piped" })
      .spawn();
    const h = createHash("sha256");
    let size = 0;
    for await (const c of nix.stdout) {
      h.update(c);
      size += c.length;
    }
    assert.equal((await nix.status).code, 0);
    assert.equal(r.size, size);
    assert.equal(size, 100000000 + 112);
    assert.equal(r.sha256, h.digest("hex"));
    assert.equal(r.sha256, await nixHashHex(p));
    // V8 frees the chunks of any stream lazily (tens of MB); compare with Deno's own file stream.
    const raw = await rssRun(p, "raw");
    const growth = (r.peak - r.baseline) / 1e6;
    const control = (raw.peak - raw.baseline) / 1e6;
    console.log(
      `RSS growth: narDumpPath ${growth.toFixed(1)} MB, file.readable ${control.toFixed(1)} MB`,
    );
    assert.ok(
      growth < control + 40,
      `peak RSS grew by ${growth.toFixed(1)} MB (control ${control})`,
    );
    assert.ok(growth < 100, `peak RSS grew by ${growth.toFixed(1)} MB for a 100 MB file`);
  } finally {
    await deletePath(p);
  }
});

Deno.test("the walker refuses a FIFO, naming its path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "arca-nar-fifo-" });
  try {
    await runOk("mkfifo", [`${dir}/pipe`]);
    await assert.rejects(
      collect(narDumpPath(dir)),
      (e: Error) => e.message.includes(`${dir}/pipe`) && /not a regular file/.test(e.message),
    );
    await assert.rejects(narSourceFromPath(`${dir}/missing`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
