/**
 * The kv backend's NARs as the swarm reads and writes them (`NarChunks` of
 * lib/swarm/ports.ts): a stored NAR's manifest by NarHash, its chunks'
 * stored bytes, local chunks by id, and keeping a NAR that came from peers
 * (stored like an import, published like one when its references are).
 *
 * @module
 */
import { crc32 } from "node:zlib";
import { encodeNix32 } from "../encoding/mod.ts";
import { type Compression, decompressChunk } from "../compress/mod.ts";
import { decodeManifest, type Manifest } from "./manifest.ts";
import type { KvStore } from "./kv_store.ts";
import { MissingReferencesError } from "./store.ts";
import { DEFAULT_LEVELS } from "../compress/mod.ts";
import type { FetchedChunk } from "./ingest_fetched.ts";
import type { FetchedPath, NarChunks, StoredNarChunks } from "../swarm/ports.ts";

/** Chunk methods on the wire, in `chunk` messages. */
export const CHUNK_METHODS: Compression[] = ["none", "zstd", "xz"];

export interface SwarmNarsOptions {
  compression: Compression;
  level: number;
}

async function* asFetched(chunks: Parameters<NarChunks["save"]>[1]): AsyncIterable<FetchedChunk> {
  for await (const c of chunks) {
    const method = c.stored && CHUNK_METHODS[c.stored.method];
    yield {
      id: c.id,
      plain: c.plain,
      stored: method ? { method, data: c.stored!.data } : undefined,
    };
  }
}

export function swarmNars(store: KvStore, opts: SwarmNarsOptions): NarChunks {
  const cache = new Map<string, { m: Manifest; narSize: number; chunks: StoredNarChunks }>();
  const manifestOf = async (narHash: Uint8Array) => {
    const h32 = encodeNix32(narHash);
    const hit = cache.get(h32);
    if (hit) return hit;
    const fh = await store.meta.findNarFile(h32);
    const rec = fh && await store.meta.getNarFile(fh);
    if (!fh || !rec) return undefined;
    let m: Manifest;
    try {
      const bytes = await store.places.getManifest(fh, rec.manifestAt);
      if (!bytes) return undefined;
      m = decodeManifest(bytes);
    } catch {
      return undefined;
    }
    const out = {
      m,
      narSize: rec.narSize,
      chunks: {
        narSize: rec.narSize,
        method: CHUNK_METHODS.indexOf(m.compression),
        chunks: m.chunks.map((c) => ({ id: c.id, ulen: c.ulen })),
      },
    };
    cache.set(h32, out);
    if (cache.size > 64) cache.delete(cache.keys().next().value!);
    return out;
  };
  // Local packs are read synchronously, as the HTTP path reads them: from the page cache that
  // is a copy, and an async read costs a thread hand-off per chunk. Others (S3) take a ranged GET.
  const read = async (loc: { pack: string; offset: number; clen: number; crc: number }) => {
    try {
      const buf = new Uint8Array(loc.clen);
      const b = store.packs.isLocal(loc.pack)
        ? store.packs.readIntoSync(loc.pack, loc.offset, buf)
        : await store.packs.readInto(loc.pack, loc.offset, buf);
      return b.length === loc.clen && crc32(b) === loc.crc ? b : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    async manifest(narHash: Uint8Array): Promise<StoredNarChunks | undefined> {
      // Made once per NAR: chunk servers ask for it on every request.
      return (await manifestOf(narHash))?.chunks;
    },
    async chunk(narHash: Uint8Array, index: number): Promise<Uint8Array | undefined> {
      const c = (await manifestOf(narHash))?.m.chunks[index];
      return c && await read(c);
    },
    async has(ids: Uint8Array[]): Promise<boolean[]> {
      return (await store.meta.lookupChunks(opts.compression, ids)).map((l) => l !== undefined);
    },
    async localChunk(id: Uint8Array): Promise<Uint8Array | undefined> {
      const [loc] = await store.meta.lookupChunks(opts.compression, [id]);
      const b = loc && await read(loc);
      return b && decompressChunk(b, opts.compression, loc.ulen);
    },
    async save(
      path: FetchedPath,
      chunks: Parameters<NarChunks["save"]>[1],
    ): Promise<"published" | "stored"> {
      const narHash = { algo: "sha256" as const, digest: path.narHash };
      // The chunks come from a transfer that checked each against its id and the whole
      // against the NarHash before passing the last one on.
      const stored = await store.storeChunks(asFetched(chunks), {
        narHash: path.narHash,
        compression: opts.compression,
        level: opts.compression === "zstd" ? opts.level : DEFAULT_LEVELS[opts.compression],
        expect: { narHash, narSize: path.narSize, what: path.storePath, source: "its peers said" },
      });
      try {
        await store.publish({ ...path, narHash }, stored, {
          keys: [],
          event: "SyncFetch",
          segments: path.segments,
          auditFields: path.detail,
        });
        return "published";
      } catch (e) {
        if (e instanceof MissingReferencesError) return "stored";
        throw e;
      }
    },
  };
}
