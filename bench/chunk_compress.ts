/**
 * Chunking and per-chunk compression on realistic data: a ~200 MB tar of the system's shared
 * libraries (standing in for NARs of binaries). Prints tables:
 * 1. throughput of each import stage (chunker, sha256 per chunk, zstd-3 per chunk, xz per chunk)
 *    and the per-chunk zstd ratio against zstd of the whole stream;
 * 2. for avg 16/32/64/128 KiB: per-chunk zstd ratio vs dedup on a "version series" (10% of
 *    4 KiB blocks changed; bytes inserted at 20 places).
 *
 * Run: deno run -A bench/chunk_compress.ts [input-file]
 */
import { createHash } from "node:crypto";
import { constants, zstdCompressSync } from "node:zlib";
import { Chunker, type ChunkParams, DEFAULT_CHUNK_PARAMS } from "../lib/chunk/mod.ts";
import { compressChunk } from "../lib/compress/mod.ts";

const TARGET = 200 * 1024 * 1024;
const PIECE = 1 << 20; // feed the chunker 1 MiB reads, as a file stream would

async function input(): Promise<Uint8Array> {
  if (Deno.args[0]) return await Deno.readFile(Deno.args[0]);
  const dir = "/usr/lib/x86_64-linux-gnu";
  const names: string[] = [];
  let size = 0;
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !/\.so(\.|$)/.test(e.name)) continue;
    names.push(e.name);
  }
  names.sort();
  const picked: string[] = [];
  for (const n of names) {
    if (size >= TARGET) break;
    picked.push(n);
    size += (await Deno.stat(`${dir}/${n}`)).size;
  }
  const out = await new Deno.Command("tar", {
    args: ["-C", dir, "-cf", "-", ...picked],
    stdout: "piped",
  })
    .output();
  if (!out.success) throw new Error("tar failed");
  return out.stdout;
}

function chunkAll(data: Uint8Array, params: ChunkParams): Uint8Array[] {
  const c = new Chunker(params);
  const out: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += PIECE) out.push(...c.push(data.subarray(o, o + PIECE)));
  out.push(...c.finish());
  return out;
}

function time<T>(f: () => T): [T, number] {
  const t = performance.now();
  const r = f();
  return [r, (performance.now() - t) / 1000];
}

const mbs = (bytes: number, s: number) => (bytes / 1e6 / s).toFixed(0);
const sha = (c: Uint8Array) => createHash("sha256").update(c).digest("hex");

const data = await input();
const MB = (data.length / 1e6).toFixed(0);
console.log(`input: ${MB} MB (${Deno.args[0] ?? "tar of /usr/lib/x86_64-linux-gnu/*.so*"})\n`);

// 1. Stage throughput with the default params.
const [chunks, tChunk] = time(() => chunkAll(data, DEFAULT_CHUNK_PARAMS));
const [, tSha] = time(() => chunks.forEach(sha));
const [zLen, tZstd] = time(() => chunks.reduce((n, c) => n + compressChunk(c, "zstd").length, 0));
const [whole, tWhole] = time(() =>
  zstdCompressSync(data, { params: { [constants.ZSTD_c_compressionLevel]: 3 } }).length
);
// xz is slow: measure on the first 16 MB of chunks.
const xzSample: Uint8Array[] = [];
for (let n = 0, i = 0; n < 16e6 && i < chunks.length; i++) {
  (xzSample.push(chunks[i]), n += chunks[i].length);
}
const xzIn = xzSample.reduce((n, c) => n + c.length, 0);
const xzRows: string[] = [];
for (const preset of [0, 3, 6]) {
  const [len, t] = time(() =>
    xzSample.reduce((n, c) => n + compressChunk(c, "xz", preset).length, 0)
  );
  xzRows.push(
    `| xz -${preset} per chunk (first ${(xzIn / 1e6).toFixed(0)} MB) | ${mbs(xzIn, t)} | ratio ${
      (xzIn / len).toFixed(3)
    } |`,
  );
}
console.log("| stage | MB/s | notes |\n|---|---|---|");
console.log(
  `| FastCDC chunker (16/64/256 KiB, 1 MiB pieces) | ${
    mbs(data.length, tChunk)
  } | ${chunks.length} chunks, mean ${(data.length / chunks.length / 1024).toFixed(1)} KiB |`,
);
console.log(`| sha256 per chunk (node:crypto) | ${mbs(data.length, tSha)} | |`);
console.log(
  `| zstd -3 per chunk (zstdCompressSync) | ${mbs(data.length, tZstd)} | ratio ${
    (data.length / zLen).toFixed(3)
  } |`,
);
console.log(
  `| zstd -3 whole stream (one call) | ${mbs(data.length, tWhole)} | ratio ${
    (data.length / whole).toFixed(3)
  } (per-chunk keeps ${(whole / zLen * 100).toFixed(1)}%) |`,
);
for (const r of xzRows) console.log(r);

// 2. Chunk size: compression ratio vs dedup across versions.
function mutateBlocks(src: Uint8Array, seed: number): Uint8Array {
  const out = src.slice();
  let s = seed;
  const blocks = Math.floor(out.length / 4096);
  for (let b = 0; b < blocks; b++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    if (s % 10 === 0) {
      for (let k = 0; k < 16; k++) out[b * 4096 + ((s >>> 8) + k * 97) % 4096] ^= 0xa5;
    }
  }
  return out;
}
function insertBytes(src: Uint8Array, places: number): Uint8Array {
  const parts: Uint8Array[] = [];
  const step = Math.floor(src.length / places);
  for (let p = 0; p < places; p++) {
    parts.push(src.subarray(p * step, (p + 1) * step), new Uint8Array(100).fill(p));
  }
  parts.push(src.subarray(places * step));
  const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of parts) (out.set(x, o), o += x.length);
  return out;
}
const base = data.subarray(0, 64 * 1024 * 1024);
const edited = mutateBlocks(base, 7);
const inserted = insertBytes(base, 20);
console.log(
  `\nversion series on the first ${(base.length / 1e6).toFixed(0)} MB: ` +
    "new bytes stored for the second version (lower is better)",
);
console.log(
  "| min/avg/max KiB | chunks | zstd ratio per chunk | 10% blocks changed: new | 20 inserts of 100 B: new |",
);
console.log("|---|---|---|---|---|");
for (const avg of [16, 32, 64, 128]) {
  const p = { min: avg * 256, avg: avg * 1024, max: avg * 4096 };
  const cs = chunkAll(base, p);
  const known = new Set(cs.map(sha));
  const ratio = base.length / cs.reduce((n, c) => n + compressChunk(c, "zstd").length, 0);
  const fresh = (v: Uint8Array) => {
    const n = chunkAll(v, p).filter((c) => !known.has(sha(c))).reduce((k, c) => k + c.length, 0);
    return `${(n / v.length * 100).toFixed(1)}%`;
  };
  console.log(
    `| ${avg / 4}/${avg}/${avg * 4} | ${cs.length} | ${ratio.toFixed(3)} | ${fresh(edited)} | ${
      fresh(inserted)
    } |`,
  );
}
