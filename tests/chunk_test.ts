/** FastCDC chunker: split independence, bounds, determinism against a plain reference, edit stability. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import {
  Chunker,
  type ChunkParams,
  chunkStream,
  DEFAULT_CHUNK_PARAMS,
  GEAR_TABLE,
} from "../lib/chunk/mod.ts";

const SMALL: ChunkParams = { min: 256, avg: 1024, max: 4096 };

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed | 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s >>> 24;
  }
  return out;
}

function chunkAll(data: Uint8Array, params: ChunkParams, splits: number[] = []): Uint8Array[] {
  const c = new Chunker(params);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const s of [...splits].sort((a, b) => a - b)) {
    out.push(...c.push(data.subarray(prev, s)));
    prev = s;
  }
  out.push(...c.push(data.subarray(prev)), ...c.finish());
  return out;
}

const lengths = (cs: Uint8Array[]) => cs.map((c) => c.length);

function concat(cs: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(cs.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of cs) (out.set(c, o), o += c.length);
  return out;
}

/** The paper's algorithm written plainly, one byte at a time, as the reference for cut points. */
function referenceCuts(data: Uint8Array, p: ChunkParams): number[] {
  const bits = Math.log2(p.avg);
  const mask = (n: number) => (~(0xffffffff >>> n)) | 0;
  const cuts: number[] = [];
  let start = 0;
  while (start < data.length) {
    const n = Math.min(data.length - start, p.max);
    let len = n;
    if (n > p.min) {
      let h = 0;
      for (let k = p.min; k < n; k++) {
        h = ((h << 1) + GEAR_TABLE[data[start + k]]) | 0;
        if ((h & (k < p.avg ? mask(bits + 2) : mask(bits - 2))) === 0) {
          len = k + 1;
          break;
        }
      }
    }
    start += len;
    cuts.push(start);
  }
  return cuts;
}

Deno.test("chunk boundaries do not depend on how the input is split", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 60_000 }),
      fc.integer(),
      fc.array(fc.nat(), { maxLength: 40 }),
      (n, seed, rawSplits) => {
        const data = bytes(n, seed);
        const splits = rawSplits.map((s) => (n === 0 ? 0 : s % (n + 1)));
        assert.deepEqual(lengths(chunkAll(data, SMALL, splits)), lengths(chunkAll(data, SMALL)));
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("one-byte pieces give the same chunks as one push", () => {
  const data = bytes(20_000, 7);
  const c = new Chunker(SMALL);
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i++) out.push(...c.push(data.subarray(i, i + 1)));
  out.push(...c.finish());
  assert.deepEqual(lengths(out), lengths(chunkAll(data, SMALL)));
  assert.deepEqual(concat(out), data);
});

Deno.test("chunks cover the input exactly and stay within [min, max] except the last", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100_000 }), fc.integer(), (n, seed) => {
      const data = bytes(n, seed);
      const cs = chunkAll(data, SMALL, [n >> 1, n >> 2]);
      assert.deepEqual(concat(cs), data);
      cs.forEach((c, i) => {
        assert.ok(c.length <= SMALL.max, `chunk ${i} longer than max: ${c.length}`);
        assert.ok(c.length > 0, `chunk ${i} is empty`);
        if (i < cs.length - 1) assert.ok(c.length >= SMALL.min, `chunk ${i} short: ${c.length}`);
      });
    }),
    { numRuns: 100 },
  );
});

Deno.test("cut points equal the plain reference algorithm (default and small params)", () => {
  for (const [params, n] of [[SMALL, 300_000], [DEFAULT_CHUNK_PARAMS, 6_000_000]] as const) {
    const data = bytes(n, 12345);
    const cuts: number[] = [];
    let at = 0;
    for (const c of chunkAll(data, params, [1, 99_999, 100_003])) cuts.push(at += c.length);
    assert.deepEqual(cuts, referenceCuts(data, params));
    // Content-defined, not fixed-size: lengths vary and the mean is near avg.
    const mean = n / cuts.length;
    assert.ok(mean > params.avg * 0.7 && mean < params.avg * 1.6, `mean ${mean}`);
    assert.ok(new Set(lengths(chunkAll(data, params))).size > cuts.length / 2);
  }
});

Deno.test("long runs of one byte are cut at max", () => {
  const cs = chunkAll(new Uint8Array(20_000), SMALL);
  assert.deepEqual(lengths(cs).slice(0, -1), Array(cs.length - 1).fill(SMALL.max));
});

Deno.test("inserting bytes near the start keeps >= 90% of the chunks of a 4 MB buffer", () => {
  const data = bytes(4 << 20, 99);
  const key = (c: Uint8Array) => createHash("sha256").update(c).digest("hex");
  const before = chunkAll(data, DEFAULT_CHUNK_PARAMS).map(key);
  for (const [at, insert] of [[100, 1], [5000, 37], [70_000, 4096]]) {
    const edited = concat([data.subarray(0, at), bytes(insert, at), data.subarray(at)]);
    const after = new Set(chunkAll(edited, DEFAULT_CHUNK_PARAMS).map(key));
    const kept = before.filter((k) => after.has(k)).length;
    assert.ok(
      kept / before.length >= 0.9,
      `insert ${insert} at ${at}: kept ${kept}/${before.length}`,
    );
    assert.ok(kept < before.length, "the edit must change at least one chunk");
  }
});

Deno.test("chunkStream yields the same chunks as the Chunker", async () => {
  const data = bytes(50_000, 3);
  const body = new Blob([data.slice(0, 777), data.slice(777, 30_000), data.slice(30_000)]).stream();
  const out: Uint8Array[] = [];
  for await (const c of body.pipeThrough(chunkStream(SMALL))) out.push(c);
  assert.deepEqual(lengths(out), lengths(chunkAll(data, SMALL)));
  assert.deepEqual(concat(out), data);
});

Deno.test("bad chunk params are a RangeError naming the field", () => {
  const bad: [ChunkParams, RegExp][] = [
    [{ min: 0, avg: 1024, max: 4096 }, /min must be a positive integer/],
    [{ min: 256, avg: 1000, max: 4096 }, /avg must be a power of two/],
    [{ min: 256, avg: 128, max: 4096 }, /avg must be a power of two/],
    [{ min: 2048, avg: 1024, max: 4096 }, /min <= avg <= max/],
    [{ min: 256, avg: 1024, max: 512 }, /min <= avg <= max/],
    [{ min: 256, avg: 1024, max: 1.5 }, /max must be a positive integer/],
    [{ min: 256, avg: 1024, max: 2 ** 31 }, /max must be <= 2\^30/],
  ];
  for (const [p, re] of bad) {
    assert.throws(() => new Chunker(p), (e) => e instanceof RangeError && re.test(e.message));
  }
});
