/**
 * A cache of many small paths for the cold start workload (W8): `count`
 * synthetic store paths (one small file each, a few references to earlier
 * ones, signed) written through Arca's own batched import into a kv cache,
 * and the same narinfos as files in a flat directory for nginx. No Nix store
 * is touched: the paths exist only in the caches, which is all a cold start
 * reads. 10,000 paths take a few seconds.
 */
import { createHash } from "node:crypto";
import { encodeNar } from "../lib/nar/mod.ts";
import { formatNarinfo } from "../lib/narinfo/mod.ts";
import type { PathMeta } from "../lib/narinfo/path_meta.ts";
import { formatCacheInfo } from "../lib/narinfo/mod.ts";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { importBatch } from "../lib/store/import_batch.ts";
import { readSecretKeyFile } from "../lib/io/key_files.ts";
import { NIX32_ALPHABET } from "../lib/encoding/mod.ts";

export interface ManyPaths {
  /** Hash parts of every path, in import order. */
  hashParts: string[];
}

/** Deterministic file contents for path `i` (a few hundred bytes, unique). */
function contents(i: number): Uint8Array {
  const text = `arca bench path ${i}\n` + "x".repeat(200 + (i * 37) % 600) + "\n";
  return new TextEncoder().encode(text);
}

function narOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return encodeNar({
    type: "regular",
    executable: false,
    size: bytes.length,
    contents: async function* () {
      yield bytes;
    },
  });
}

/** A valid 32-character store hash part derived from `i`. */
function hashPartOf(i: number): string {
  const d = createHash("sha256").update(`arca-bench-many-${i}`).digest();
  let s = "";
  for (let k = 0; k < 32; k++) s += NIX32_ALPHABET[d[k] & 31];
  return s;
}

/**
 * Fills `cacheDir` (kv backend) and `flatDir` (narinfo files and
 * nix-cache-info, for nginx) with `count` paths signed with `keyFile`.
 */
export async function makeManyPaths(
  count: number,
  cacheDir: string,
  flatDir: string,
  keyFile: string,
): Promise<ManyPaths> {
  const metas: PathMeta[] = [];
  const nars = new Map<string, Uint8Array>();
  const hashParts: string[] = [];
  for (let i = 0; i < count; i++) {
    const hashPart = hashPartOf(i);
    const base = `${hashPart}-bench-many-${i}`;
    const bytes = contents(i);
    const nar = new Uint8Array(await new Response(narOf(bytes)).arrayBuffer());
    // Up to three references to earlier paths, like a package's libraries.
    const refs = [i - 1, i - 7, Math.floor(i / 2) - 1].filter((r, k, a) =>
      r >= 0 && a.indexOf(r) === k
    ).map((r) => metas[r].storePath.slice("/nix/store/".length));
    metas.push({
      storePath: `/nix/store/${base}`,
      narHash: {
        algo: "sha256",
        digest: new Uint8Array(createHash("sha256").update(nar).digest()),
      },
      narSize: nar.length,
      references: refs,
      sigs: [],
    });
    nars.set(`/nix/store/${base}`, bytes);
    hashParts.push(hashPart);
  }
  const store = await KvStore.open(cacheLayout(cacheDir));
  await Deno.mkdir(flatDir, { recursive: true });
  const keys = [await readSecretKeyFile(keyFile)];
  const failures: string[] = [];
  const writes: Promise<void>[] = [];
  try {
    await importBatch(
      store,
      metas,
      (meta) => narOf(nars.get(meta.storePath)!),
      { compression: "zstd", level: 3, keys },
      (o) => {
        if (o.error) failures.push(`${o.meta.storePath}: ${o.error.message}`);
        else {
          const h = o.meta.storePath.slice("/nix/store/".length, "/nix/store/".length + 32);
          writes.push(
            Deno.writeTextFile(`${flatDir}/${h}.narinfo`, formatNarinfo(o.result.narinfo)),
          );
        }
      },
    );
  } finally {
    await store.close();
  }
  await Promise.all(writes);
  if (failures.length) {
    throw new Error(`${failures.length} paths failed, first: ${failures[0]}`);
  }
  await Deno.writeTextFile(
    `${flatDir}/nix-cache-info`,
    formatCacheInfo({ storeDir: "/nix/store", wantMassQuery: true, priority: 40 }),
  );
  return { hashParts };
}

if (import.meta.main) {
  const [n, cache, flat, key] = Deno.args;
  const t0 = performance.now();
  await makeManyPaths(Number(n), cache, flat, key);
  console.log(`${n} paths in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
