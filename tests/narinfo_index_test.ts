/**
 * The narinfo index loads in the background: until every narinfo is in
 * memory the server answers from the store (a KV read per request), so a
 * path is found from the first moment and nothing is answered from a partial
 * index; once loaded, the index answers alone. Both through the handler and
 * through a real epoll front (its worker's copy only takes over once it
 * holds everything).
 */
import assert from "node:assert/strict";
import { NarinfoIndex } from "../lib/server/narinfo_index.ts";
import { createHandler } from "../lib/server/handler.ts";
import { serveHttp } from "../lib/server/http_server.ts";
import type { NarInfo } from "../lib/narinfo/mod.ts";
import { formatNarinfo } from "../lib/narinfo/mod.ts";
import type { Store } from "../lib/store/store.ts";
import { newWireCounters, WIRE } from "../lib/server/wire_counters.ts";

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";
/** 300 distinct valid hash parts. */
const HASHES = Array.from({ length: 300 }, (_, i) => {
  const digits = [i >> 10, (i >> 5) & 31, i & 31].map((d) => NIX32[d]).join("");
  return `${digits}${"0".repeat(29)}`;
});

function infoOf(hashPart: string): NarInfo {
  return {
    storePath: `/nix/store/${hashPart}-p`,
    url: `nar/${"1".repeat(52)}.nar.zst`,
    compression: "zstd",
    narHash: { algo: "sha256", digest: new Uint8Array(32).fill(7) },
    narSize: 100,
    references: [],
    sigs: [],
  };
}

/** A store whose `list` waits for `release()`; every other read answers at once. */
function slowStore() {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const reads: string[] = [];
  const store = {
    backend: "kv",
    getNarinfo(h: string) {
      reads.push(h);
      return Promise.resolve(HASHES.includes(h) ? infoOf(h) : undefined);
    },
    async *list() {
      await gate;
      for (const h of HASHES) yield infoOf(h);
    },
    async *changes() {},
    follow(signal: AbortSignal) {
      return new Promise<void>((r) => signal.addEventListener("abort", () => r()));
    },
  } as unknown as Store;
  return { store, release, reads };
}

Deno.test("narinfos are served from the store while the index loads, then from memory", async () => {
  const { store, release, reads } = slowStore();
  const stop = new AbortController();
  const index = new NarinfoIndex(store);
  await index.start(stop.signal);
  const handler = createHandler({
    store,
    index,
    storeDir: "/nix/store",
    priority: 40,
    logsDir: "/",
  });
  const get = async (h: string) => {
    const r = await handler(new Request(`http://localhost/${h}.narinfo`)) as Response;
    return { status: r.status, text: await r.text() };
  };
  try {
    assert.equal(index.live, false);
    const early = await get(HASHES[123]);
    assert.equal(early.status, 200);
    assert.equal(early.text, formatNarinfo(infoOf(HASHES[123])));
    assert.equal((await get("z".repeat(32))).status, 404);
    assert.deepEqual(reads, [HASHES[123], "z".repeat(32)]);

    release();
    await index.loaded();
    assert.equal(index.live, true);
    assert.equal(index.size, HASHES.length);
    reads.length = 0;
    assert.equal((await get(HASHES[7])).status, 200);
    assert.equal((await get("z".repeat(32))).status, 404);
    assert.deepEqual(reads, [], "a loaded index answers without reading the store");
  } finally {
    stop.abort();
  }
});

Deno.test("the epoll front answers while the index loads, and from its copy once it is whole", async () => {
  const { store, release, reads } = slowStore();
  const stop = new AbortController();
  const index = new NarinfoIndex(store);
  await index.start(stop.signal);
  const handler = createHandler({
    store,
    index,
    storeDir: "/nix/store",
    priority: 40,
    logsDir: "/",
  });
  // Counted by the worker for each narinfo it answers itself.
  const counters = newWireCounters();
  const server = serveHttp({ hostname: "127.0.0.1", port: 0, io: "epoll", signal: stop.signal }, {
    handle: handler,
    quick: { index, cacheInfo: new TextEncoder().encode("StoreDir: /nix/store\n") },
    counters,
  });
  const byWorker = () =>
    Atomics.load(counters, WIRE.narinfoHit) + Atomics.load(counters, WIRE.narinfoMiss);
  const url = `http://127.0.0.1:${server.addr.port}`;
  const get = async (h: string) => {
    const r = await fetch(`${url}/${h}.narinfo`);
    return { status: r.status, text: await r.text() };
  };
  try {
    assert.equal((await get(HASHES[5])).status, 200);
    assert.equal((await get("z".repeat(32))).status, 404);
    assert.equal(reads.length, 2, "before the load, the app read the store");
    assert.equal(byWorker(), 0);
    release();
    // Every path is found at every moment; the worker's copy takes over once
    // it holds every entry (then the app is asked nothing).
    const deadline = Date.now() + 5000;
    for (;;) {
      const before = byWorker();
      const all = await Promise.all(HASHES.map(get));
      assert.ok(all.every((r) => r.status === 200), "every path is found at every moment");
      if (byWorker() - before === HASHES.length) break;
      assert.ok(Date.now() < deadline, "the worker never answered alone");
      await new Promise((r) => setTimeout(r, 20));
    }
    const before = byWorker();
    assert.equal((await get("z".repeat(32))).status, 404);
    assert.equal(byWorker(), before + 1);
  } finally {
    stop.abort();
    await server.finished;
  }
});
