import { decompressStream } from "./lib/compress/mod.ts";
const data = await Deno.readFile(Deno.args[0]);
const t0 = performance.now();
const chunks: Uint8Array[] = [];
for (let i = 0; i < data.length; i += 65536) chunks.push(data.subarray(i, i + 65536));
const out = ReadableStream.from(chunks).pipeThrough(decompressStream("bzip2"));
const h = (await import("node:crypto")).createHash("sha256"); let n = 0;
for await (const b of out) { h.update(b); n += b.length; }
console.log(n, h.digest("hex").slice(0,16), (performance.now() - t0).toFixed(0), "ms");
