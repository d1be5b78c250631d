/**
 * gc against an import that publishes a path with a NAR file gc has just
 * found unused (the path was collected earlier, and the same NAR comes back).
 * Real KV on disk; the publish is slipped into gc's sweep at the two moments
 * that matter: after gc listed the paths and after it read the NAR file
 * records. Either way the NAR file must survive, and the cache verify clean.
 * Found by `gc_concurrent_test` (once in a few hundred runs): a path was
 * published whose NAR file record gc then deleted.
 */
import assert from "node:assert/strict";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { K } from "../lib/kv/keys.ts";
import type { MetaStore } from "../lib/kv/meta_store.ts";
import { sweepStore } from "../lib/gc/sweep_store.ts";
import { verifyStore } from "../lib/gc/verify_store.ts";
import { encodeNar } from "../lib/nar/mod.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import type { PathMeta, StoredNar } from "../lib/store/store.ts";
import { tempDir } from "./_run.ts";

const GRACE_MS = 300;
const PATH = "/nix/store/0a7v8z1ysxj9gz9zyrxq3s1a3wcwkw0w-race";

type Moment = "after listing paths" | "after reading NAR file records";

/** `meta` with `publish` run once, right after the named scan of gc's sweep ends. */
function hooked(meta: MetaStore, moment: Moment, publish: () => Promise<void>): MetaStore {
  let fired = false;
  const after = <T>(scan: AsyncGenerator<T>) =>
    (async function* () {
      yield* scan;
      if (!fired) {
        fired = true;
        await publish();
      }
    })();
  return new Proxy(meta, {
    get(target, key) {
      if (key === "listNars" && moment === "after listing paths") {
        return () => after(target.listNars());
      }
      if (key === "scan" && moment === "after reading NAR file records") {
        return (prefix: Deno.KvKey) => {
          const scan = target.scan(prefix);
          return prefix[0] === K.narfilePrefix[0] ? after(scan) : scan;
        };
      }
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

async function storeOne(store: KvStore): Promise<{ meta: PathMeta; stored: StoredNar }> {
  const data = crypto.getRandomValues(new Uint8Array(40_000));
  const nar = encodeNar({
    type: "regular",
    executable: false,
    size: data.length,
    async *contents() {
      yield data;
    },
  });
  const stored = await store.storeNar(nar, { compression: "zstd", level: 3 });
  const meta: PathMeta = {
    storePath: PATH,
    narHash: stored.narHash,
    narSize: stored.narSize,
    references: [],
    sigs: [],
  };
  return { meta, stored };
}

const MOMENTS: Moment[] = ["after listing paths", "after reading NAR file records"];

for (const moment of MOMENTS) {
  for (const way of ["publish", "batch commit"] as const) {
    Deno.test(`gc keeps a NAR file that a path is published with ${moment} (${way})`, async () => {
      const tmp = await tempDir();
      const store = await KvStore.open(cacheLayout(`${tmp.path}/cache`));
      try {
        const { meta, stored } = await storeOne(store);
        assert.equal((await store.publish(meta, stored, { keys: [] })).status, "imported");
        // Collected earlier: the path is gone, its NAR file record stays (old, unused).
        const hashPart = PATH.slice(11, 43);
        const record = (await store.meta.getNar(hashPart))!;
        const narFile = (await store.meta.getNarFile(stored.fileHash32))!;
        assert.ok(await store.meta.removeNar(hashPart, { type: "Gc", time: Date.now() }));
        await new Promise((r) => setTimeout(r, GRACE_MS + 100));

        // The same NAR comes back: an upload of its narinfo (publish), or an
        // import-closure whose batch finds the NAR file record already there.
        const republish = async () => {
          if (way === "publish") {
            assert.equal((await store.publish(meta, stored, { keys: [] })).status, "imported");
            return;
          }
          const [res] = await store.meta.commitImports([{
            file: {
              fileHash32: stored.fileHash32,
              narHash32: record.narHash.slice("sha256:".length),
              narFile,
              newChunks: 0,
              storedBytes: 0,
            },
            path: {
              hashPart,
              referenceHashParts: [],
              record: { ...record, importedAt: Date.now() },
              audit: { type: "Import", time: Date.now() },
            },
          }]);
          assert.equal(res.status, "ok");
        };
        const t = {
          layout: store.layout,
          meta: hooked(store.meta, moment, republish),
          packs: store.packs,
        };
        const stats = await sweepStore(t, { now: Date.now(), graceMs: GRACE_MS, leased: true });

        assert.ok(await store.getNarinfo(hashPart), "the path is published");
        assert.ok(await store.meta.getNarFile(stored.fileHash32), "its NAR file record is kept");
        assert.equal(stats.narFiles, 0);
        assert.deepEqual((await verifyStore(store)).problems, []);
      } finally {
        await store.close();
        await tmp.cleanup();
      }
    });
  }
}
