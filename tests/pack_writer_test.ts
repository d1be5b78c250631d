/**
 * PackWriter on a real temp dir: appends land in order at the offsets they
 * were given, `readBack` returns an append's bytes wherever they are (still
 * buffered, being written, in the file), and seal/abort leave the files the
 * crash rule expects.
 */
import assert from "node:assert/strict";
import { cacheLayout, packPath } from "../lib/blob/cache_layout.ts";
import { PackWriter } from "../lib/blob/pack_writer.ts";
import { tempDir } from "./_run.ts";

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 255;
  return b;
}

Deno.test("PackWriter: readBack finds every append, buffered, in flight or written", async () => {
  const tmp = await tempDir("arca-pack-");
  try {
    const layout = cacheLayout(tmp.path);
    await Deno.mkdir(layout.tmp, { recursive: true });
    await Deno.mkdir(layout.packs, { recursive: true });
    const w = new PackWriter(layout);
    const parts: { offset: number; data: Uint8Array }[] = [];
    // Sizes around the 1 MiB flush point and the 2 MiB buffers, one larger than a buffer.
    const sizes = [10, 70_000, 900_000, 300_000, 1, 2_500_000, 64_000, 1_048_576, 5, 200_000];
    for (const [i, n] of sizes.entries()) {
      const data = bytes(n, i);
      // Not awaited now and then: reads happen while writes are in flight.
      const at = w.append(data);
      parts.push({ offset: i % 3 === 0 ? await at : (at.then(() => {}), w.size - n), data });
      for (const p of parts) {
        const got = w.readBack(p.offset, new Uint8Array(p.data.length));
        assert.deepEqual(got, p.data, `append ${parts.indexOf(p)} read back after ${i}`);
      }
    }
    assert.throws(() => w.readBack(w.size - 4, new Uint8Array(8)), RangeError);
    const total = w.size;
    assert.equal(await w.seal(), true);
    const file = await Deno.readFile(packPath(layout, w.id));
    assert.equal(file.length, total);
    for (const p of parts) {
      assert.deepEqual(file.subarray(p.offset, p.offset + p.data.length), p.data);
    }
    assert.deepEqual([...Deno.readDirSync(layout.tmp)], [], "nothing left in tmp/");

    const dropped = new PackWriter(layout);
    await dropped.append(bytes(3_000_000, 1));
    dropped.readBack(0, new Uint8Array(100));
    dropped.abort();
    assert.deepEqual([...Deno.readDirSync(layout.tmp)], [], "abort removes the temporary pack");
  } finally {
    await tmp.cleanup();
  }
});
