/**
 * S3 storage benchmark (not part of the test suite): on a Ceph RGW started
 * by tests/_rgw.ts (or `ARCA_TEST_S3_ENV=<dir>/s3.env` for one running),
 *
 * - a NAR download through Arca's handler from an S3-backed cache, against
 *   a direct signed ranged GET of the same bytes from RGW (ratio, target >= 0.8);
 * - storing the same NAR into the S3-backed cache and into a local one;
 * - S3 requests per import and per download;
 * - the same for the filesystem backend on S3 (the flat layout in the bucket:
 *   the NAR file is one object, `nar/<fileHash>.nar.zst`), against a direct
 *   GET of that object.
 *
 *   deno run -A bench/s3_bench.ts [MiB]
 */
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { StorageSet } from "../lib/blob/storage_set.ts";
import { FsBlobStore } from "../lib/blob/fs_blob_store.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { packKey } from "../lib/store/pack_places.ts";
import { createHandler } from "../lib/server/handler.ts";
import { NarinfoIndex } from "../lib/server/narinfo_index.ts";
import { freshStore } from "../tests/_rgw.ts";
import { FsStore } from "../lib/store/fs_store.ts";
import { BlobFlatFiles } from "../lib/store/flat_files.ts";
import type { Store } from "../lib/store/store.ts";
import type { S3BlobStore } from "../lib/s3/s3_blob_store.ts";

const MIB = Number(Deno.args[0] ?? 64);
const RUNS = 3;

function data(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(b.subarray(o, o + 65536));
  return b;
}

const streamOf = (b: Uint8Array) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (let o = 0; o < b.length; o += 1 << 20) c.enqueue(b.subarray(o, o + (1 << 20)));
      c.close();
    },
  });

async function drain(s: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const p of s) n += p.length;
  return n;
}

/** S3 requests since `before`, by kind, without the kinds not used. */
function since(s3: S3BlobStore, before: Map<string, number>): Map<string, number> {
  return new Map(
    [...s3.counts].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as [string, number])
      .filter(([, v]) => v > 0),
  );
}

/** Downloads NAR file `name` through Arca's handler over `store`; returns ms and S3 requests. */
async function download(store: Store, s3: S3BlobStore, name: string, size: number) {
  const handler = createHandler({
    store,
    index: new NarinfoIndex(store),
    storeDir: "/nix/store",
    priority: 40,
    logsDir: `${tmp}/logs`,
  });
  const before = new Map(s3.counts);
  const t0 = performance.now();
  const res = await handler(new Request(`http://localhost/nar/${name}`));
  const body = "body" in res && !(res instanceof Response) ? res.body : (res as Response).body;
  const n = await drain(body as ReadableStream<Uint8Array>);
  const ms = performance.now() - t0;
  if (n !== size) throw new Error(`got ${n} of ${size} bytes`);
  return { ms, reqs: since(s3, before) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const show = (m: Map<string, number>) => [...m].map(([k, v]) => `${k} ${v}`).join(", ") || "none";

const tmp = await Deno.makeTempDir({ prefix: "arca-s3-bench-" });
const s3 = await freshStore();
const nar = data(MIB << 20);
const results: string[] = [];
try {
  // Import: local cache vs S3-backed cache (a fresh cache per run, so nothing dedups).
  const imp = async (kind: "local" | "s3", i: number) => {
    const layout = cacheLayout(`${tmp}/${kind}-${i}`);
    const storages = kind === "s3"
      ? new StorageSet([{ name: "rgw", store: s3 }], "in-order", [
        { name: "local", store: new FsBlobStore(layout.root, layout.tmp) },
      ])
      : undefined;
    const store = await KvStore.open(layout, { storages });
    const before = new Map(s3.counts);
    const t0 = performance.now();
    const stored = await store.storeNar(streamOf(nar), { compression: "zstd", level: 3 });
    const ms = performance.now() - t0;
    return { store, stored, ms, reqs: since(s3, before) };
  };
  const localMs: number[] = [];
  const s3Ms: number[] = [];
  let last: Awaited<ReturnType<typeof imp>> | undefined;
  for (let i = 0; i < RUNS; i++) {
    const l = await imp("local", i);
    localMs.push(l.ms);
    await l.store.close();
    if (last) await last.store.close();
    last = await imp("s3", i);
    s3Ms.push(last.ms);
  }
  const mbps = (ms: number) => (MIB / (ms / 1000)).toFixed(1);
  results.push(
    `import ${MIB} MiB: local ${mbps(median(localMs))} MiB/s, S3 ${mbps(median(s3Ms))} MiB/s ` +
      `(${(median(localMs) / median(s3Ms)).toFixed(2)}x of local)`,
    `S3 requests per import: ${total(last!.reqs)} (${show(last!.reqs)})`,
  );

  // Download: Arca's handler streaming from S3 vs a direct ranged GET of the pack.
  const { store, stored } = last!;
  const name = `${stored.fileHash32}.nar.zst`;
  const packs = await Array.fromAsync(s3.list("packs/"));
  const pack = packs.find((p) => p.size >= stored.fileSize)!;
  const arcaMs: number[] = [];
  const directMs: number[] = [];
  let perDownload = new Map<string, number>();
  for (let i = 0; i < RUNS; i++) {
    const d = await download(store, s3, name, stored.fileSize);
    arcaMs.push(d.ms);
    perDownload = d.reqs;
    const t0 = performance.now();
    const direct = await drain(await s3.read(packKey(pack.key.slice(6, -5)), 0, stored.fileSize));
    directMs.push(performance.now() - t0);
    if (direct !== stored.fileSize) throw new Error("direct read short");
  }
  const mib = stored.fileSize / (1 << 20);
  const rate = (ms: number) => (mib / (ms / 1000)).toFixed(1);
  results.push(
    `download ${mib.toFixed(1)} MiB NAR file: Arca from S3 ${rate(median(arcaMs))} MiB/s, ` +
      `direct ranged GET ${rate(median(directMs))} MiB/s, ratio ${
        (median(directMs) / median(arcaMs)).toFixed(2)
      }`,
    `S3 requests per download: ${total(perDownload)} (${show(perDownload)})`,
  );
  await store.close();

  // The filesystem backend on S3: the NAR file is one object of the bucket.
  const flatS3 = await freshStore();
  const flat = await FsStore.open(cacheLayout(`${tmp}/flat`), {
    files: new BlobFlatFiles(flatS3),
  });
  const flatImportMs: number[] = [];
  let flatImport = new Map<string, number>();
  let flatStored;
  for (let i = 0; i < RUNS; i++) {
    // The same NAR again is found stored: each run a NAR of its own.
    const bytes = data(MIB << 20);
    const before = new Map(flatS3.counts);
    const t0 = performance.now();
    flatStored = await flat.storeNar(streamOf(bytes), { compression: "zstd", level: 3 });
    flatImportMs.push(performance.now() - t0);
    flatImport = since(flatS3, before);
  }
  const flatName = `${flatStored!.fileHash32}.nar.zst`;
  const flatArca: number[] = [];
  const flatDirect: number[] = [];
  let flatDownload = new Map<string, number>();
  for (let i = 0; i < RUNS; i++) {
    const d = await download(flat, flatS3, flatName, flatStored!.fileSize);
    flatArca.push(d.ms);
    flatDownload = d.reqs;
    const t0 = performance.now();
    const direct = await drain(await flatS3.read(`nar/${flatName}`, 0, flatStored!.fileSize));
    flatDirect.push(performance.now() - t0);
    if (direct !== flatStored!.fileSize) throw new Error("direct read short");
  }
  const flatMib = flatStored!.fileSize / (1 << 20);
  results.push(
    `filesystem backend on S3: import ${mbps(median(flatImportMs))} MiB/s ` +
      `(${
        (median(localMs) / median(flatImportMs)).toFixed(2)
      }x of the kv backend's local import); ` +
      `S3 requests per import: ${total(flatImport)} (${show(flatImport)})`,
    `filesystem backend on S3: download ${flatMib.toFixed(1)} MiB NAR file ${
      (flatMib / (median(flatArca) / 1000)).toFixed(1)
    } MiB/s, direct GET ${(flatMib / (median(flatDirect) / 1000)).toFixed(1)} MiB/s, ratio ${
      (median(flatDirect) / median(flatArca)).toFixed(2)
    }; S3 requests per download: ${total(flatDownload)} (${show(flatDownload)})`,
  );
  await flat.close();
} finally {
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
for (const r of results) console.log(r);
