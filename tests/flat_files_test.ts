/**
 * The flat layout's file port: the same cases against the directory
 * (`LocalFlatFiles`) and a blob store (`BlobFlatFiles` over the in-memory
 * twin; over S3 it runs in tests/s3_flat_test.ts).
 */
import assert from "node:assert/strict";
import { BlobNotFoundError, StorageError } from "../lib/blob/blob_store.ts";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { FsStore } from "../lib/store/fs_store.ts";
import { tempDir } from "./_run.ts";
import { MemoryBlobStore } from "../lib/blob/memory_blob_store.ts";
import { FsBlobStore } from "../lib/blob/fs_blob_store.ts";
import { formatNarinfo, type NarInfo } from "../lib/narinfo/mod.ts";
import { BlobFlatFiles, type FlatFiles, LocalFlatFiles } from "../lib/store/flat_files.ts";
import { checkStorages, DEFAULTS } from "../lib/config/mod.ts";
import { flatFilesFor } from "../cmd/_storages.ts";
import { writeLog } from "../lib/store/upload_files.ts";
import { createHandler } from "../lib/server/handler.ts";
import { NarinfoIndex } from "../lib/server/narinfo_index.ts";
import { withUploadReads } from "../lib/server/upload/upload_reads.ts";

const HASH = "0123456789abcdfghijklmnpqrsvwxyz";
const NAR = `nar/${"1".repeat(52)}.nar.zst`;

async function cases(files: FlatFiles, tmp: string) {
  await files.prepare();
  assert.equal(await files.readText(`${HASH}.narinfo`), undefined);
  assert.equal(await files.stat(NAR), undefined);
  await files.writeText(`${HASH}.narinfo`, "StorePath: x\n");
  await files.writeText("nix-cache-info", "StoreDir: /nix/store\n");
  await files.writeText("notahash.narinfo", "x");
  assert.equal(await files.readText(`${HASH}.narinfo`), "StorePath: x\n");
  const part = `${tmp}/${Deno.pid}.nar.part`;
  await Deno.writeFile(part, new Uint8Array(1000).map((_, i) => i % 251));
  await files.putFile(NAR, part);
  assert.equal((await files.stat(NAR))?.size, 1000);
  // Only <hash32>.narinfo at the root are narinfos; nar/ holds the NARs.
  assert.deepEqual((await Array.fromAsync(files.narinfos())).map((f) => f.name), [
    `${HASH}.narinfo`,
  ]);
  assert.deepEqual((await Array.fromAsync(files.nars())).map((f) => f.name), [NAR]);
  const got = new Uint8Array(await new Response(await files.read(NAR, 10, 20)).arrayBuffer());
  assert.deepEqual([...got], Array.from({ length: 10 }, (_, i) => (10 + i) % 251));
  await assert.rejects(() => files.read(NAR, 0, 1001), RangeError);
  await assert.rejects(() => files.read(`nar/${"2".repeat(52)}.nar`, 0, 1), BlobNotFoundError);
  assert.ok((await files.remove([NAR, `nar/${"2".repeat(52)}.nar`])).includes(NAR));
  assert.equal(await files.stat(NAR), undefined);
}

Deno.test("flat files in a directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/tmp`);
    await cases(new LocalFlatFiles(dir), `${dir}/tmp`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("flat files in a blob store", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const files = new BlobFlatFiles(new MemoryBlobStore());
    await cases(files, dir);
    assert.equal(files.pendingUploads !== undefined, true);
    // Logs and listings are files of the layout too: bytes in, the same bytes out.
    const log = new Uint8Array([0xff, 0xfe, 10]); // not UTF-8: kept as it is
    await files.writeText(`log/${HASH}-x.drv`, log);
    await files.writeText(`${HASH}.ls`, '{"version":1}');
    assert.deepEqual(await files.readBytes(`log/${HASH}-x.drv`), log);
    assert.equal(await files.readBytes(`log/${HASH}-y.drv`), undefined);
    assert.deepEqual(
      (await Array.fromAsync(files.logsAndListings())).map((f) => [f.name, f.size]),
      [[`${HASH}.ls`, 13], [`log/${HASH}-x.drv`, 3]],
    );
    assert.deepEqual((await Array.fromAsync(files.narinfos())).map((f) => f.name), [
      `${HASH}.narinfo`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a filesystem-backend cache takes one storage: two are refused by name", async () => {
  const storages = checkStorages([
    { name: "disk2", type: "local", path: "/srv/disk2" },
    { name: "disk3", type: "local", path: "/srv/disk3" },
  ]);
  const config = { ...DEFAULTS, backend: "filesystem" as const, cache_dir: "/c", storages };
  await assert.rejects(
    () => flatFilesFor(config, {}),
    /backend = "filesystem" keeps its files in exactly one storage.*"disk2", "disk3"/,
  );
  const one = await flatFilesFor({ ...config, cache_storages: ["disk3"] }, {});
  assert.equal(one.name, "disk3");
  assert.equal(one.files?.where, "/srv/disk3");
  assert.equal((await flatFilesFor({ ...config, storages: [] }, {})).files, undefined);
  await assert.rejects(() => flatFilesFor({ ...config, cache_storages: ["nope"] }, {}), /"nope"/);
});

/** A blob store whose reads fail after their first 1000 bytes, as a dropped S3 GET does. */
class BreaksMidway extends MemoryBlobStore {
  broken = false;
  override async read(key: string, offset: number, length: number) {
    const inner = await super.read(key, offset, length);
    if (!this.broken) return inner;
    const bytes = new Uint8Array(await new Response(inner).arrayBuffer());
    return new ReadableStream<Uint8Array>({
      start(ctl) {
        ctl.enqueue(bytes.subarray(0, 1000));
        ctl.error(new StorageError("dropped"));
      },
    });
  }
}

Deno.test({
  name:
    "filesystem backend on a blob store: NARs served whole, by range, 404 when down, cut midway",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const tmp = await tempDir();
    const blobs = new BreaksMidway("mem-flat");
    const layout = cacheLayout(`${tmp.path}/cache`);
    const store = await FsStore.open(layout, { files: new BlobFlatFiles(blobs), storageName: "b" });
    try {
      assert.match(new TextDecoder().decode(await blobs.get("nix-cache-info")), /StoreDir/);
      const bytes = crypto.getRandomValues(new Uint8Array(50_000));
      const stored = await store.storeNar(new Response(bytes).body!, {
        compression: "none",
        level: 0,
      });
      const name = `${stored.fileHash32}.nar`;
      assert.ok(await blobs.head(`nar/${name}`), "the NAR is an object of the store");
      const local = [...Deno.readDirSync(layout.root)].map((e) => e.name);
      assert.ok(!local.includes("nar"), local.join(" "));
      assert.deepEqual([...Deno.readDirSync(layout.tmp)], [], "the compressed file moved up");
      const read = async (start: number, end: number) => {
        const nb = await store.openNar(name);
        const s = await nb!.open!(start, end);
        return new Uint8Array(await new Response(s as ReadableStream).arrayBuffer());
      };
      assert.deepEqual(await read(0, 50_000), bytes);
      assert.deepEqual(await read(100, 200), bytes.subarray(100, 200));
      // A build log and a listing, objects of the store too.
      const drv = `${HASH}-x.drv`;
      await writeLog(store, layout, drv, new TextEncoder().encode("built\n"));
      await blobs.put(`${HASH}.ls`, new TextEncoder().encode('{"version":1,"root":{}}'));
      const handler = withUploadReads(
        createHandler({
          store,
          index: new NarinfoIndex(store),
          storeDir: "/nix/store",
          priority: 40,
          logsDir: layout.logs,
        }),
        {
          ctx: {
            store,
            meta: store.meta,
            layout,
            storeDir: "/nix/store",
            compression: "zstd",
            level: 3,
            trustedKeys: [],
            signingKeys: [],
            maxBytes: 1 << 20,
          },
          readToken: "",
          uploadTokens: [],
        },
      );
      const get = async (path: string) =>
        (await handler(new Request(`http://localhost${path}`))).status;
      assert.equal(await get(`/log/${drv}`), 200);
      blobs.down = true;
      assert.equal(await store.openNar(name), undefined, "a store that is down: not found");
      // The small files too: a 404 and a line saying why, not a 500 (a listing is looked up
      // by its narinfo first).
      const errors: string[] = [];
      const realError = console.error;
      console.error = (...x: unknown[]) => errors.push(x.join(" "));
      try {
        assert.equal(await get(`/log/${drv}`), 404);
        assert.equal(await get(`/${HASH}.ls`), 404);
      } finally {
        console.error = realError;
      }
      assert.ok(
        errors.some((e) => e.includes(`log/${drv}: cannot be read now`)),
        errors.join("\n"),
      );
      assert.ok(
        errors.some((e) => e.includes("mem-flat: narinfos cannot be read now")),
        errors.join("\n"),
      );
      blobs.down = false;
      blobs.broken = true;
      await assert.rejects(() => read(0, 50_000), /dropped/);
      const st = await store.status();
      assert.deepEqual(st.storages?.map((s) => [s.name, s.kind, s.bytes]), [[
        "b",
        "memory",
        50_000,
      ]]);
    } finally {
      await store.close();
      await tmp.cleanup();
    }
  },
});

/** Reads that take 20 ms each, counting how many run at once; listings recorded. */
class SlowReads extends MemoryBlobStore {
  now = 0;
  most = 0;
  lists: [string, boolean][] = [];
  override async get(key: string) {
    this.most = Math.max(this.most, ++this.now);
    await new Promise((r) => setTimeout(r, 20));
    this.now--;
    return await super.get(key);
  }
  override list(prefix: string, opts: { shallow?: boolean } = {}) {
    this.lists.push([prefix, opts.shallow === true]);
    return super.list(prefix, opts);
  }
}

Deno.test({
  name: "filesystem backend list: 16 narinfo reads at a time, listing order, top level only",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const tmp = await tempDir();
    const blobs = new SlowReads("mem-slow");
    const store = await FsStore.open(cacheLayout(`${tmp.path}/cache`), {
      files: new BlobFlatFiles(blobs),
    });
    try {
      const alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
      const hashes = Array.from(
        { length: 40 },
        (_, i) => alphabet[i % 32].repeat(31) + "0a"[i >> 5],
      );
      for (const h of hashes) {
        await blobs.put(`${h}.narinfo`, new TextEncoder().encode(formatNarinfo(infoOf(h))));
      }
      // Another cache's narinfo in the same bucket: not this cache's, and not walked.
      await blobs.put(`caches/other/${hashes[0]}.narinfo`, new Uint8Array(1));
      const t0 = performance.now();
      const got = (await Array.fromAsync(store.list())).map((i) => i.storePath.slice(11, 43));
      const ms = performance.now() - t0;
      assert.deepEqual(got, [...hashes].sort());
      assert.equal(blobs.most, 16, "16 GETs in flight, no more");
      assert.ok(ms < 40 * 20 / 2, `40 reads of 20 ms took ${ms.toFixed(0)} ms`);
      assert.deepEqual(blobs.lists, [["", true]], "one shallow listing of the top level");
    } finally {
      await store.close();
      await tmp.cleanup();
    }
  },
});

Deno.test("blob store listings: shallow lists the prefix's own keys, no deeper", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/tmp`);
    for (const blobs of [new MemoryBlobStore(), new FsBlobStore(dir, `${dir}/tmp`)]) {
      for (
        const k of ["a.narinfo", "b.narinfo", "nar/x.nar", "caches/o/c.narinfo", "nix-cache-info"]
      ) {
        await blobs.put(k, new Uint8Array(1));
      }
      const keys = async (p: string, shallow: boolean) =>
        (await Array.fromAsync(blobs.list(p, { shallow }))).map((o) => o.key);
      assert.deepEqual(await keys("", true), ["a.narinfo", "b.narinfo", "nix-cache-info"]);
      assert.deepEqual(await keys("ca", true), []);
      assert.deepEqual(await keys("caches/o/", true), ["caches/o/c.narinfo"]);
      assert.equal((await keys("", false)).length, 5);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function infoOf(h: string): NarInfo {
  return {
    storePath: `/nix/store/${h}-x`,
    url: `nar/${"1".repeat(52)}.nar`,
    compression: "none",
    narHash: { algo: "sha256", digest: new Uint8Array(32) },
    narSize: 1,
    references: [],
    sigs: [],
  };
}
