/**
 * Storage strategies: each one's placement rule, and a cache over several
 * storages where one fills up or fails: writes go to the others, where each
 * pack went is recorded, and reads of a failing storage's NARs fail before
 * a response starts (a 404 and a log line), never a short 200.
 */
import assert from "node:assert/strict";
import { MemoryBlobStore } from "../lib/blob/memory_blob_store.ts";
import { FsBlobStore } from "../lib/blob/fs_blob_store.ts";
import { StorageFullError } from "../lib/blob/blob_store.ts";
import { type StorageEntry, StorageSet, type Strategy } from "../lib/blob/storage_set.ts";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { K } from "../lib/kv/keys.ts";
import type { PackRecord } from "../lib/kv/records.ts";
import { createHandler } from "../lib/server/handler.ts";
import { NarinfoIndex } from "../lib/server/narinfo_index.ts";
import { tempDir } from "./_run.ts";

function entries(n: number, more: Partial<StorageEntry>[] = []): StorageEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `s${i}`,
    store: new MemoryBlobStore(`mem${i}`),
    ...more[i],
  }));
}

/** Places `count` writes of `bytes` and returns the storage chosen each time. */
function place(set: StorageSet, count: number, bytes: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const first = set.order(bytes)[0].name;
    set.added(first, bytes);
    out.push(first);
  }
  return out;
}

Deno.test("strategy in-order fills the first storage, then the next", () => {
  const set = new StorageSet(entries(3, [{ maxBytes: 300 }, { maxBytes: 200 }]), "in-order");
  assert.deepEqual(place(set, 7, 100), ["s0", "s0", "s0", "s1", "s1", "s2", "s2"]);
});

Deno.test("strategy round-robin takes each storage in turn, skipping full ones", () => {
  const set = new StorageSet(entries(3, [{}, { maxBytes: 100 }]), "round-robin");
  assert.deepEqual(place(set, 7, 100), ["s0", "s1", "s2", "s0", "s2", "s0", "s2"]);
});

Deno.test("strategy split keeps each storage's share of the bytes at its weight", () => {
  const set = new StorageSet(entries(2, [{ weight: 70 }, { weight: 30 }]), "split");
  const got = place(set, 100, 10);
  assert.equal(got.filter((n) => n === "s0").length, 70);
  assert.equal(got.filter((n) => n === "s1").length, 30);
  // Interleaved, not 70 then 30.
  assert.ok(got.slice(0, 10).includes("s1"));
});

Deno.test("strategy least-used picks the storage holding the fewest bytes", () => {
  const set = new StorageSet(entries(3), "least-used");
  set.setUsage("s0", 500);
  set.setUsage("s1", 100);
  set.setUsage("s2", 300);
  assert.deepEqual(place(set, 4, 150), ["s1", "s1", "s2", "s1"]);
});

Deno.test("every strategy skips a failing or full storage, and falls back to all of them", () => {
  for (const s of ["in-order", "round-robin", "split", "least-used"] as Strategy[]) {
    let now = 0;
    const set = new StorageSet(entries(2), s, [], () => now);
    set.failed("s0", new Error("connection refused"));
    assert.deepEqual(place(set, 3, 10), ["s1", "s1", "s1"], s);
    set.failed("s1", new StorageFullError("full"));
    assert.equal(set.order(10).length, 2, `${s}: all are tried when none is open`);
    now += 60_000; // the cool-down ends
    assert.equal(set.skipped("s0"), undefined);
  }
});

Deno.test({
  name:
    "a cache over a full and a failing storage: writes go elsewhere, reads 404, recorded places",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const tmp = await tempDir();
    const a = new MemoryBlobStore("mem-a");
    const b = new MemoryBlobStore("mem-b");
    const layout = cacheLayout(`${tmp.path}/cache`);
    const set = new StorageSet(
      [
        { name: "a", store: a, maxBytes: 250_000 },
        { name: "b", store: b },
      ],
      "in-order",
      [{ name: "local", store: new FsBlobStore(layout.root, layout.tmp) }],
    );
    const store = await KvStore.open(layout, { storages: set });
    const errors: string[] = [];
    const realError = console.error;
    console.error = (...x: unknown[]) => errors.push(x.join(" "));
    try {
      const nars: { bytes: Uint8Array; fh: string }[] = [];
      const storeOne = async (n: number) => {
        const bytes = new Uint8Array(n);
        for (let o = 0; o < n; o += 65536) crypto.getRandomValues(bytes.subarray(o, o + 65536));
        const s = await store.storeNar(
          new ReadableStream({
            start(c) {
              c.enqueue(bytes);
              c.close();
            },
          }),
          { compression: "none", level: 0 },
        );
        nars.push({ bytes, fh: s.fileHash32 });
      };
      // 100 KB each: a takes two (250 KB limit), b the rest.
      for (let i = 0; i < 4; i++) await storeOne(100_000);
      const placed = async () => {
        const out: string[] = [];
        for await (const [, r] of store.meta.scan<PackRecord>(K.packPrefix)) {
          out.push(r.storage ?? "local");
        }
        return out.sort();
      };
      assert.deepEqual(await placed(), ["a", "a", "b", "b"]);
      assert.equal((await Array.fromAsync(a.list("packs/"))).length, 2);

      // a fails: a new NAR goes to b (a has room again after nothing); logged.
      a.capacity = undefined;
      set.setUsage("a", 0);
      a.down = true;
      await storeOne(50_000);
      assert.deepEqual(await placed(), ["a", "a", "b", "b", "b"]);
      assert.ok(errors.some((e) => e.includes("storage a") && e.includes("unreachable")));

      // Reads of a's NARs fail before a response starts: the handler answers 404.
      const index = new NarinfoIndex(store);
      const handler = createHandler({
        store,
        index,
        storeDir: "/nix/store",
        priority: 40,
        logsDir: layout.logs,
      });
      const get = async (fh: string) =>
        await handler(new Request(`http://localhost/nar/${fh}.nar`));
      const inA = nars[0];
      const res = await get(inA.fh);
      assert.equal(res.status, 404);
      assert.ok(errors.some((e) => e.includes(`nar/${inA.fh}`)), errors.join("\n"));
      // Not taken out of service: a storage that is down is not damage.
      assert.ok(await store.meta.getNarFile(inA.fh));

      // b's NARs still stream; once a is back, a's do too, byte for byte.
      const body = async (fh: string) => {
        const nb = await store.openNar(`${fh}.nar`);
        const s = await nb!.open!(0, nb!.size);
        return new Uint8Array(await new Response(s as ReadableStream).arrayBuffer());
      };
      assert.deepEqual(await body(nars[3].fh), nars[3].bytes);
      a.down = false;
      assert.deepEqual(await body(inA.fh), inA.bytes);
      const st = await store.status();
      assert.deepEqual(st.storages?.map((s) => [s.name, s.packs]), [["a", 2], ["b", 3], [
        "local",
        0,
      ]]);
    } finally {
      console.error = realError;
      await store.close();
      await tmp.cleanup();
    }
  },
});

Deno.test("an extent that fails after the first bytes errors the stream: never a short body", async () => {
  const { extentStream } = await import("../lib/store/extent_stream.ts");
  const ok = () =>
    Promise.resolve(
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array(10));
          c.close();
        },
      }),
    );
  const failing = () => Promise.reject(new Error("storage went away"));
  const s = await extentStream([ok, failing]);
  await assert.rejects(() => new Response(s).arrayBuffer(), /storage went away/);
  await assert.rejects(() => extentStream([failing, ok]), /storage went away/);
  const whole = await extentStream([ok, ok, ok]);
  assert.equal((await new Response(whole).arrayBuffer()).byteLength, 30);
});
