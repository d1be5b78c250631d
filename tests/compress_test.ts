/** Per-chunk compression: round trips, concatenated frames read by the real CLIs, corrupt input. */
import assert from "node:assert/strict";
import { brotliCompressSync, gzipSync } from "node:zlib";
import fc from "fast-check";
import {
  compressChunk,
  compressChunksInto,
  type Compression,
  CompressionError,
  contentTypeOf,
  decompressChunk,
  type Decompression,
  decompressStream,
  extensionOf,
} from "../lib/compress/mod.ts";

const METHODS: Compression[] = ["zstd", "xz", "none"];

/** Compressible but varied bytes: text-like runs mixed with noise. */
function sample(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed | 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s & 3) === 0 ? s >>> 24 : 97 + ((i >> 4) % 26);
  }
  return out;
}

function concat(cs: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(cs.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of cs) (out.set(c, o), o += c.length);
  return out;
}

async function viaStream(method: Decompression, pieces: Uint8Array[]): Promise<Uint8Array> {
  const body = ReadableStream.from(pieces).pipeThrough(decompressStream(method));
  return new Uint8Array(await new Response(body).arrayBuffer());
}

function bytesOf(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.slice(i, i + size));
  return out;
}

async function cli(cmd: string, args: string[], input: Uint8Array) {
  const p = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const output = p.output(); // read while writing: the output may not fit in a pipe
  const w = p.stdin.getWriter();
  await w.write(input);
  await w.close();
  return await output;
}

Deno.test("compressChunk then decompressChunk is the identity, for every method", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 70_000 }),
      fc.integer(),
      fc.constantFrom(...METHODS),
      (n, seed, m) => {
        const data = sample(n, seed);
        assert.deepEqual(decompressChunk(compressChunk(data, m), m), data);
      },
    ),
    { numRuns: 60 },
  );
  const data = sample(100_000, 1);
  for (const m of ["zstd", "xz"] as const) {
    assert.ok(compressChunk(data, m).length < data.length * 0.8, `${m} compresses`);
    for (const level of m === "zstd" ? [1, 19] : [0, 6]) {
      assert.deepEqual(decompressChunk(compressChunk(data, m, level), m), data);
    }
  }
});

Deno.test("decompressChunk with the plain size: the reused zstd context, and any other size refused", () => {
  const random = crypto.getRandomValues(new Uint8Array(65_536));
  for (const data of [sample(66_000, 3), random, sample(1, 9)]) {
    const frame = compressChunk(data, "zstd");
    assert.deepEqual(decompressChunk(frame, "zstd", data.length), data);
    // Two frames back to back, as a chunk of concatenated frames.
    assert.deepEqual(
      decompressChunk(concat([frame, frame]), "zstd", 2 * data.length),
      concat([data, data]),
    );
    for (const size of [data.length - 1, data.length + 1]) {
      assert.throws(() => decompressChunk(frame, "zstd", size), CompressionError);
    }
    const bad = frame.slice();
    bad[bad.length - 1] ^= 1; // the content checksum
    assert.throws(() => decompressChunk(bad, "zstd", data.length), CompressionError);
    assert.throws(
      () => decompressChunk(frame.subarray(0, frame.length - 2), "zstd", data.length),
      CompressionError,
    );
    // Nothing of a refused chunk is left in the context for the next one.
    assert.deepEqual(decompressChunk(frame, "zstd", data.length), data);
  }
});

Deno.test("concatenated per-chunk frames decode as one body: zstd/xz CLIs and decompressStream", async () => {
  const data = sample(600_000, 42);
  const chunks = bytesOf(data, 65_536);
  for (const [m, cmd] of [["zstd", "zstd"], ["xz", "xz"]] as const) {
    const body = concat(chunks.map((c) => compressChunk(c, m)));
    const t = await cli(cmd, ["-t"], body);
    assert.equal(t.code, 0, `${cmd} -t: ${new TextDecoder().decode(t.stderr)}`);
    const d = await cli(cmd, ["-dc"], body);
    assert.equal(d.code, 0, `${cmd} -dc: ${new TextDecoder().decode(d.stderr)}`);
    assert.deepEqual(d.stdout, data);
    assert.deepEqual(await viaStream(m, bytesOf(body, 10_000)), data);
    assert.deepEqual(decompressChunk(body, m), data);
  }
});

Deno.test("decompressStream fed one-byte pieces works for every method", async () => {
  const data = sample(30_000, 5);
  const bodies: [Decompression, Uint8Array][] = [
    [
      "zstd",
      concat([
        compressChunk(data.subarray(0, 9000), "zstd"),
        compressChunk(data.subarray(9000), "zstd"),
      ]),
    ],
    [
      "xz",
      concat([
        compressChunk(data.subarray(0, 9000), "xz"),
        compressChunk(data.subarray(9000), "xz"),
      ]),
    ],
    ["gzip", concat([gzipSync(data.subarray(0, 9000)), gzipSync(data.subarray(9000))])],
    ["br", brotliCompressSync(data)],
    ["none", data],
  ];
  for (const [m, body] of bodies) {
    assert.deepEqual(await viaStream(m, bytesOf(body, 1)), data, m);
  }
});

Deno.test("a real xz file from the xz CLI decodes in a stream", async () => {
  const data = sample(200_000, 9);
  const x = await cli("xz", ["-c", "-9"], data);
  assert.equal(x.code, 0);
  assert.deepEqual(await viaStream("xz", bytesOf(x.stdout, 4096)), data);
  const z = await cli("zstd", ["-c", "-19"], data);
  assert.deepEqual(await viaStream("zstd", bytesOf(z.stdout, 4096)), data);
});

Deno.test("corrupt or truncated input is a CompressionError, from chunks and streams", async () => {
  const data = sample(100_000, 11);
  for (const m of ["zstd", "xz"] as const) {
    const good = compressChunk(data, m);
    const truncated = good.subarray(0, good.length - 7);
    const flipped = good.slice();
    flipped[Math.floor(flipped.length / 2)] ^= 0x55;
    const garbage = sample(5000, 3);
    for (
      const [what, bad] of [["truncated", truncated], ["flipped", flipped], ["garbage", garbage]]
    ) {
      assert.throws(() => decompressChunk(bad as Uint8Array, m), CompressionError, `${m} ${what}`);
      await assert.rejects(
        viaStream(m, bytesOf(bad as Uint8Array, 1000)),
        CompressionError,
        `${m} ${what} stream`,
      );
    }
  }
  const gz = gzipSync(data);
  await assert.rejects(viaStream("gzip", [gz.subarray(0, gz.length - 10)]), CompressionError);
  // Not asserted for br: Deno 2.9.6's brotli stream decoder ends silently on truncated input.
});

Deno.test("bad arguments are CompressionErrors", () => {
  assert.throws(() => compressChunk(new Uint8Array(1), "zstd", 0), CompressionError);
  assert.throws(() => compressChunk(new Uint8Array(1), "xz", 7), CompressionError);
  assert.throws(() => compressChunk(new Uint8Array(1), "lz4" as Compression), CompressionError);
  assert.throws(() => decompressStream("lz4" as Decompression), CompressionError);
});

Deno.test("content types and NAR URL extensions follow Nix", () => {
  assert.deepEqual(METHODS.map(contentTypeOf), [
    "application/zstd",
    "application/x-xz",
    "application/x-nix-nar",
  ]);
  assert.deepEqual(METHODS.map(extensionOf), [".zst", ".xz", ""]);
});

Deno.test("compressChunksInto matches compressChunk byte for byte (same chunk, same bytes)", () => {
  // Imports rely on this: a chunk compressed twice must store and hash the same.
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 70_000 }), { maxLength: 6 }),
      fc.constantFrom<Compression>("zstd", "xz", "none"),
      fc.integer({ min: 1, max: 5 }),
      (chunks, method, level) => {
        const lvl = method === "xz" ? 0 : level;
        const { out, lens } = compressChunksInto(chunks, method, lvl);
        const one = chunks.map((c) => compressChunk(c, method, lvl));
        assert.deepEqual(lens, one.map((p) => p.length));
        let o = 0;
        for (const [i, p] of one.entries()) {
          assert.deepEqual(out.subarray(o, o + p.length), p);
          assert.deepEqual(decompressChunk(p, method), chunks[i]);
          o += p.length;
        }
        assert.equal(out.length, o);
      },
    ),
    { numRuns: 40 },
  );
  // Incompressible input still fits its bound.
  const noise = crypto.getRandomValues(new Uint8Array(65536));
  assert.deepEqual(decompressChunk(compressChunk(noise, "zstd"), "zstd"), noise);
});
