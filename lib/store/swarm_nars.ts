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
import { manifestPath } from "../blob/cache_layout.ts";
import { decodeManifest, type Manifest } from "./manifest.ts";
import type { KvStore } from "./kv_store.ts";
import { MissingReferencesError } from "./store.ts";
import { DEFAULT_LEVELS } from "../compress/mod.ts";

/** Chunk methods on the wire, in `chunk` messages. */
export const CHUNK_METHODS: Compression[] = ["none", "zstd", "xz"];

export interface SwarmNarsOptions {
  compression: Compression;
  level: number;
}

export interface SwarmStoredChunks {
  narSize: number;
  method: number;
  chunks: { id: Uint8Array; ulen: number }[];
}

export function swarmNars(store: KvStore, opts: SwarmNarsOptions) {
  const cache = new Map<string, { m: Manifest; narSize: number }>();
  const manifestOf = async (narHash: Uint8Array) => {
    const h32 = encodeNix32(narHash);
    const hit = cache.get(h32);
    if (hit) return hit;
    const fh = await store.meta.findNarFile(h32);
    const rec = fh && await store.meta.getNarFile(fh);
    if (!fh || !rec) return undefined;
    let m: Manifest;
    try {
      m = decodeManifest(await Deno.readFile(manifestPath(store.layout, fh)));
    } catch {
      return undefined;
    }
    const out = { m, narSize: rec.narSize };
    cache.set(h32, out);
    if (cache.size > 64) cache.delete(cache.keys().next().value!);
    return out;
  };
  const read = async (loc: { pack: string; offset: number; clen: number; crc: number }) => {
    try {
      const b = await store.packs.read(loc.pack, loc.offset, loc.clen);
      return b.length === loc.clen && crc32(b) === loc.crc ? b : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    async manifest(narHash: Uint8Array): Promise<SwarmStoredChunks | undefined> {
      const got = await manifestOf(narHash);
      if (!got) return undefined;
      return {
        narSize: got.narSize,
        method: CHUNK_METHODS.indexOf(got.m.compression),
        chunks: got.m.chunks.map((c) => ({ id: c.id, ulen: c.ulen })),
      };
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
      return b && decompressChunk(b, opts.compression);
    },
    async save(
      path: {
        storePath: string;
        narHash: Uint8Array;
        narSize: number;
        references: string[];
        deriver?: string;
        ca?: string;
        sigs: string[];
        segments: string[];
        detail: Record<string, unknown>;
      },
      nar: ReadableStream<Uint8Array>,
    ): Promise<"published" | "stored"> {
      const narHash = { algo: "sha256" as const, digest: path.narHash };
      const stored = await store.storeNar(nar, {
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
