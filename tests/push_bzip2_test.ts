/**
 * The bzip2 decoder uploads use, against the real `bzip2` tool: identical
 * output for text, binary, long runs and empty input, split at awkward
 * boundaries and as concatenated streams; truncated or corrupted input fails
 * with CompressionError and nothing else.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { CompressionError, decompressStream } from "../lib/compress/mod.ts";
import { run } from "./_run.ts";

async function bzip2(data: Uint8Array, level = 9): Promise<Uint8Array> {
  const child = new Deno.Command("bzip2", {
    args: [`-${level}`, "-c"],
    stdin: "piped",
    stdout: "piped",
  })
    .spawn();
  // Read while writing: bzip2 blocks on a full stdout pipe otherwise.
  const out = child.output();
  const w = child.stdin.getWriter();
  await w.write(data);
  await w.close();
  return (await out).stdout;
}

async function decode(bytes: Uint8Array, cut = 65536): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += cut) pieces.push(bytes.subarray(i, i + cut));
  return new Uint8Array(
    await new Response(ReadableStream.from(pieces).pipeThrough(decompressStream("bzip2")))
      .arrayBuffer(),
  );
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

Deno.test("bzip2: real files decode byte for byte, whatever the split", async () => {
  assert.equal((await run("bzip2", ["--help"])).code, 0, "needs the bzip2 tool");
  const text = new TextEncoder().encode("the quick brown fox\n".repeat(60_000));
  const random = crypto.getRandomValues(new Uint8Array(65536));
  const binary = await Deno.readFile(Deno.execPath()).then((b) => b.subarray(0, 1_500_000));
  const runs = new Uint8Array(3_000_000).fill(7);
  for (const [data, level] of [[text, 9], [random, 1], [binary, 9], [runs, 5]] as const) {
    const z = await bzip2(data, level);
    for (const cut of [1, 7, 4096, 1 << 20]) {
      if (cut === 1 && z.length > 100_000) continue;
      assert.equal(sha(await decode(z, cut)), sha(data), `level ${level}, cut ${cut}`);
    }
  }
  const both = new Uint8Array([...(await bzip2(text)), ...(await bzip2(random))]);
  assert.equal(sha(await decode(both)), sha(new Uint8Array([...text, ...random])));
  assert.equal((await decode(await bzip2(new Uint8Array(0)))).length, 0);
});

Deno.test("bzip2: damaged input fails with CompressionError only", async () => {
  const plain = new TextEncoder().encode("some text to damage\n".repeat(5000));
  const z = await bzip2(plain);
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: z.length - 1 }),
      fc.integer({ min: 1, max: 255 }),
      fc.boolean(),
      async (at, flip, truncate) => {
        const bad = truncate ? z.slice(0, at) : z.slice();
        if (!truncate) bad[at] ^= flip;
        let out: Uint8Array;
        try {
          out = await decode(bad, 1000);
        } catch (e) {
          assert.ok(e instanceof CompressionError, `${(e as Error).name}: ${(e as Error).message}`);
          return;
        }
        // Damage may go unnoticed only where it cannot change the output (padding bits, or
        // a BWT origin moved between identical rotations of this periodic text).
        assert.equal(sha(out), sha(plain), "damage changed the output unnoticed");
      },
    ),
    { numRuns: 200 },
  );
});
