/**
 * One conformance suite for the blob store port, run against every
 * implementation: the in-memory twin, a directory, and S3 on a real Ceph
 * RGW (tests/_rgw.ts; ignored with a message when radosgw is missing).
 */
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import {
  BlobNotFoundError,
  type BlobStore,
  StorageError,
  StorageFullError,
} from "../lib/blob/blob_store.ts";
import { FsBlobStore } from "../lib/blob/fs_blob_store.ts";
import { MemoryBlobStore } from "../lib/blob/memory_blob_store.ts";
import { S3BlobStore } from "../lib/s3/s3_blob_store.ts";
import { freshStore, rgw, RGW_MISSING, storeOptions } from "./_rgw.ts";

const MiB = 1 << 20;

interface Subject {
  name: string;
  ignore?: boolean;
  make(): Promise<{ store: BlobStore; tmp: string; done(): Promise<void> }>;
  /** Leaves an upload that never completes, as a killed process does. */
  leavePending?(store: BlobStore, key: string): Promise<void>;
}

async function tmpDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "arca-blob-" });
}

const SUBJECTS: Subject[] = [
  {
    name: "memory",
    async make() {
      const tmp = await tmpDir();
      return {
        store: new MemoryBlobStore(),
        tmp,
        done: () => Deno.remove(tmp, { recursive: true }),
      };
    },
    leavePending(store, key) {
      (store as MemoryBlobStore).leavePending(key);
      return Promise.resolve();
    },
  },
  {
    name: "fs",
    async make() {
      const root = await tmpDir();
      const store = new FsBlobStore(root);
      await store.prepare();
      return { store, tmp: store.tmp, done: () => Deno.remove(root, { recursive: true }) };
    },
  },
  {
    name: "s3 (ceph rgw)",
    ignore: RGW_MISSING !== undefined,
    async make() {
      const tmp = await tmpDir();
      const store = await freshStore({ partSize: 5 * MiB, multipartAbove: 5 * MiB });
      return { store, tmp, done: () => Deno.remove(tmp, { recursive: true }) };
    },
    async leavePending(store, key) {
      // CreateMultipartUpload and one part, never completed.
      const r = await rgw();
      const c = new AwsClient({
        accessKeyId: r.accessKeyId,
        secretAccessKey: r.secretAccessKey,
        service: "s3",
        region: "us-east-1",
      });
      const url = (store as S3BlobStore).urlOf(key);
      const res = await c.fetch(`${url}?uploads`, { method: "POST" });
      assert.equal(res.status, 200);
      const id = (await res.text()).match(/<UploadId>([^<]+)</)![1];
      const part = await c.fetch(`${url}?partNumber=1&uploadId=${encodeURIComponent(id)}`, {
        method: "PUT",
        body: bytes(5 * MiB, 3),
      });
      assert.equal(part.status, 200);
      await part.body?.cancel();
    },
  },
];

function bytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    b[i] = x & 0xff;
  }
  return b;
}

function streamOf(data: Uint8Array, piece = 100_000, failAt?: number): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(ctl) {
      if (failAt !== undefined && o >= failAt) return ctl.error(new Error("source failed"));
      if (o >= data.length) return ctl.close();
      ctl.enqueue(data.slice(o, o + piece));
      o += piece;
    },
  });
}

async function collect(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

async function keysOf(store: BlobStore, prefix: string, pageSize?: number): Promise<string[]> {
  return (await Array.fromAsync(store.list(prefix, { pageSize }))).map((i) => i.key);
}

for (const s of SUBJECTS) {
  const t = (name: string, f: (store: BlobStore, tmp: string) => Promise<void>) =>
    Deno.test({
      name: `blob store ${s.name}: ${name}`,
      ignore: s.ignore,
      sanitizeResources: false,
      sanitizeOps: false,
      fn: async () => {
        const { store, tmp, done } = await s.make();
        try {
          await f(store, tmp);
        } finally {
          await done();
        }
      },
    });

  t("put, get, head, overwrite; absent keys", async (store) => {
    const a = bytes(1000, 1);
    await store.put("packs/a.pack", a);
    assert.deepEqual(await store.get("packs/a.pack"), a);
    assert.equal((await store.head("packs/a.pack"))?.size, 1000);
    const b = bytes(10, 2);
    await store.put("packs/a.pack", b);
    assert.deepEqual(await store.get("packs/a.pack"), b);
    assert.equal(await store.get("packs/missing.pack"), undefined);
    assert.equal(await store.head("packs/missing.pack"), undefined);
    await assert.rejects(() => store.put("../escape", a), TypeError);
  });

  t("ranged reads: inside, whole, empty, past the end, absent", async (store) => {
    const a = bytes(300_000, 3);
    await store.put("packs/r.pack", a);
    assert.deepEqual(
      await collect(await store.read("packs/r.pack", 1000, 5000)),
      a.slice(1000, 6000),
    );
    assert.deepEqual(await collect(await store.read("packs/r.pack", 0, a.length)), a);
    assert.equal((await collect(await store.read("packs/r.pack", 7, 0))).length, 0);
    assert.deepEqual(
      await store.readInto("packs/r.pack", 299_990, new Uint8Array(10)),
      a.slice(299_990),
    );
    await assert.rejects(() => store.read("packs/r.pack", 299_000, 2000), RangeError);
    await assert.rejects(
      () => store.readInto("packs/r.pack", 300_000, new Uint8Array(1)),
      RangeError,
    );
    await assert.rejects(() => store.read("packs/nope.pack", 0, 10), BlobNotFoundError);
  });

  t(
    "putStream: small in one piece, large in parts, exact bytes and ranges across parts",
    async (store) => {
      const small = bytes(123_456, 4);
      await store.putStream("packs/small.pack", streamOf(small));
      assert.deepEqual(await store.get("packs/small.pack"), small);
      const big = bytes(11 * MiB + 12345, 5);
      await store.putStream("packs/big.pack", streamOf(big, 1 << 20));
      assert.equal((await store.head("packs/big.pack"))?.size, big.length);
      const at = 5 * MiB - 100; // across the first part boundary
      assert.deepEqual(
        await collect(await store.read("packs/big.pack", at, 200)),
        big.slice(at, at + 200),
      );
      assert.deepEqual(await store.get("packs/big.pack"), big);
      await store.putStream("packs/empty.pack", streamOf(new Uint8Array(0)));
      assert.equal((await store.head("packs/empty.pack"))?.size, 0);
    },
  );

  t("a failed putStream leaves the key as it was and no pending upload", async (store) => {
    const old = bytes(100, 6);
    await store.put("packs/x.pack", old);
    const big = bytes(12 * MiB, 7);
    await assert.rejects(() => store.putStream("packs/x.pack", streamOf(big, MiB, 11 * MiB)));
    await assert.rejects(() => store.putStream("packs/y.pack", streamOf(big, MiB, 11 * MiB)));
    assert.deepEqual(await store.get("packs/x.pack"), old);
    assert.equal(await store.head("packs/y.pack"), undefined);
    assert.deepEqual(await Array.fromAsync(store.pendingUploads("packs/")), []);
  });

  t("putFile moves a file in (small and large) and removes it", async (store, tmp) => {
    for (const [name, n] of [["f1", 4000], ["f2", 6 * MiB + 7]] as const) {
      const data = bytes(n, 8);
      const path = `${tmp}/${name}.part`;
      await Deno.writeFile(path, data);
      await store.putFile(`packs/${name}.pack`, path);
      await assert.rejects(() => Deno.stat(path), Deno.errors.NotFound);
      assert.deepEqual(await store.get(`packs/${name}.pack`), data);
    }
  });

  t("list pages through a prefix in key order", async (store) => {
    const keys = ["manifests/e.bin", "manifests/a.bin", "manifests/c.bin", "manifests/b.bin"];
    for (const k of [...keys, "packs/a.pack", "manifestsx/z.bin"]) {
      await store.put(k, bytes(3, 9));
    }
    const want = [...keys].sort();
    assert.deepEqual(await keysOf(store, "manifests/", 3), want);
    assert.deepEqual(await keysOf(store, "manifests/", 1), want);
    assert.deepEqual(await keysOf(store, "manifests/", 1000), want);
    assert.deepEqual(await keysOf(store, "packs/"), ["packs/a.pack"]);
    assert.deepEqual(await keysOf(store, "nothing/"), []);
    const info = (await Array.fromAsync(store.list("packs/")))[0];
    assert.equal(info.size, 3);
    assert.ok(Math.abs(info.mtime - Date.now()) < 10 * 60_000, "mtime is about now");
  });

  t("deleteMany removes keys in batches, absent keys included", async (store) => {
    const keys = Array.from({ length: 7 }, (_, i) => `packs/d${i}.pack`);
    for (const k of keys) await store.put(k, bytes(5, 10));
    await store.deleteMany([...keys.slice(0, 5), "packs/never.pack"]);
    assert.deepEqual(await keysOf(store, "packs/"), keys.slice(5));
    await store.deleteMany(keys);
    assert.deepEqual(await keysOf(store, "packs/"), []);
    await store.deleteMany([]);
  });

  if (s.leavePending) {
    t("pending uploads are listed and aborted; the key never appears", async (store) => {
      await s.leavePending!(store, "packs/killed.pack");
      const pending = await Array.fromAsync(store.pendingUploads("packs/"));
      assert.equal(pending.length, 1);
      assert.equal(pending[0].key, "packs/killed.pack");
      assert.ok(Math.abs(pending[0].started - Date.now()) < 10 * 60_000);
      assert.equal(await store.head("packs/killed.pack"), undefined);
      await store.abortUpload(pending[0]);
      assert.deepEqual(await Array.fromAsync(store.pendingUploads("packs/")), []);
    });
  }
}

Deno.test({
  name: "blob store s3 (ceph rgw): batches of deletes, wrong secret, unreachable server",
  ignore: RGW_MISSING !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const r = await rgw();
    const prefix = `t-${crypto.randomUUID()}/`;
    const store = new S3BlobStore({ ...storeOptions(r, prefix), deleteBatch: 3 });
    const keys = Array.from({ length: 8 }, (_, i) => `packs/b${i}.pack`);
    for (const k of keys) await store.put(k, bytes(4, 11));
    await store.deleteMany(keys);
    assert.equal(store.counts.get("DeleteObjects"), 3);
    assert.deepEqual(await keysOf(store, "packs/"), []);

    // SigV4 is checked: a wrong secret is refused, and no message carries a secret.
    const secret = "WRONG-SECRET-must-never-be-printed";
    const bad = new S3BlobStore({ ...storeOptions(r, prefix), secretAccessKey: secret });
    const e = await bad.put("packs/z.pack", bytes(4, 12)).catch((e) => e);
    assert.ok(e instanceof StorageError, String(e));
    assert.match(e.message, /403/);
    assert.ok(!e.message.includes(secret) && !e.message.includes(r.secretAccessKey));
    assert.ok(!JSON.stringify(bad).includes(secret));
    assert.ok(!Deno.inspect(bad).includes(secret));

    // Nothing listens there: retried with backoff, then a StorageError naming the store.
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const gone = new S3BlobStore({
      ...storeOptions(r, prefix),
      endpoint: `http://127.0.0.1:${port}`,
      retries: 2,
      backoffMs: 10,
    });
    const g = await gone.get("packs/a.pack").catch((e) => e);
    assert.ok(g instanceof StorageError, String(g));
    assert.equal(gone.counts.get("GetObject"), 3);
    assert.ok(!(g instanceof StorageFullError));
  },
});
