/**
 * The dedup pipeline of the kv backend, for one NAR:
 *
 * ```
 * NAR bytes ─┬─ sha256 ─────────────────────────────────────────────▶ NarHash, NarSize
 *            └─ FastCDC ─▶ chunk ─ sha256 = id ─▶ known? ── yes ─ read stored bytes ─┐
 *                                                     └── no ─ compress ─ append to pack ─┤
 *                                                          FileHash, FileSize, manifest ◀─┘
 * ```
 * The served NAR file is the concatenation of the chunks' compressed bytes
 * (zstd frames and xz streams concatenate), so FileHash is computed here,
 * once, and serving never recompresses.
 *
 * A stream's pieces may be views into a reused buffer, so each piece is fully
 * processed before the next is pulled.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { Chunker } from "../chunk/mod.ts";
import { type Compression, compressChunk } from "../compress/mod.ts";
import type { MetaStore } from "../kv/meta_store.ts";
import type { ChunkLocation } from "../kv/records.ts";
import type { PackReader } from "../blob/pack_reader.ts";
import { PackWriter } from "../blob/pack_writer.ts";
import type { CacheLayout } from "../blob/cache_layout.ts";
import type { ChunkRef, Manifest } from "./manifest.ts";
import { encodeHex } from "../encoding/hex.ts";

export interface IngestDeps {
  layout: CacheLayout;
  /** Without these two there is no dedup: every chunk is appended (filesystem backend). */
  meta?: MetaStore;
  packs?: PackReader;
}

export interface IngestOptions {
  compression: Compression;
  level: number;
  /** Called with the number of NAR bytes consumed so far (progress bars). */
  onProgress?: (narBytes: number) => void;
}

export interface IngestResult {
  narHash: Uint8Array;
  narSize: number;
  fileHash: Uint8Array;
  fileSize: number;
  manifest: Manifest;
  /** Chunks this NAR added; to be indexed once the pack is sealed. */
  newChunks: { id: Uint8Array; loc: ChunkLocation }[];
  /** The pack holding the new chunks (unsealed): call `seal()` or `abort()`. */
  pack: PackWriter;
}

export async function ingestChunks(
  nar: ReadableStream<Uint8Array>,
  deps: IngestDeps,
  opts: IngestOptions,
): Promise<IngestResult> {
  const narHasher = createHash("sha256");
  const fileHasher = createHash("sha256");
  const chunker = new Chunker();
  const pack = new PackWriter(deps.layout);
  const manifest: Manifest = { compression: opts.compression, chunks: [] };
  const newChunks: { id: Uint8Array; loc: ChunkLocation }[] = [];
  // Chunks first seen in this NAR, so a repeat inside it is stored once.
  const fresh = new Map<string, ChunkLocation>();
  let narSize = 0;
  let fileSize = 0;

  const take = async (chunks: Uint8Array[]) => {
    if (chunks.length === 0) return;
    const ids = chunks.map((c) => new Uint8Array(createHash("sha256").update(c).digest()));
    const known = deps.meta ? await deps.meta.lookupChunks(opts.compression, ids) : [];
    for (let i = 0; i < chunks.length; i++) {
      const id = ids[i];
      const key = encodeHex(id);
      let loc = fresh.get(key) ?? known[i];
      let stored: Uint8Array = EMPTY;
      if (loc?.pack === pack.id) {
        // A repeat inside this NAR: compression is deterministic, so doing it
        // again yields the bytes already appended, without reading them back.
        stored = await compressChunk(chunks[i], opts.compression, opts.level);
      } else if (loc && deps.packs && (stored = await readIntact(deps.packs, loc)).length > 0) {
        // deduplicated: reuse the stored copy
      } else {
        stored = await compressChunk(chunks[i], opts.compression, opts.level);
        const offset = await pack.append(stored);
        loc = { pack: pack.id, offset, clen: stored.length, ulen: chunks[i].length, crc: crc32(stored) };
        fresh.set(key, loc);
        newChunks.push({ id, loc });
      }
      fileHasher.update(stored);
      fileSize += stored.length;
      manifest.chunks.push({ id, ...loc } satisfies ChunkRef);
    }
  };

  try {
    for await (const piece of nar) {
      narHasher.update(piece);
      narSize += piece.length;
      await take(chunker.push(piece));
      opts.onProgress?.(narSize);
    }
    await take(chunker.finish());
  } catch (e) {
    pack.abort();
    throw e;
  }
  return {
    narHash: new Uint8Array(narHasher.digest()),
    narSize,
    fileHash: new Uint8Array(fileHasher.digest()),
    fileSize,
    manifest,
    newChunks,
    pack,
  };
}

const EMPTY = new Uint8Array(0);

/** The stored bytes of a known chunk, or empty if its copy is missing or damaged (store anew). */
async function readIntact(packs: PackReader, loc: ChunkLocation): Promise<Uint8Array> {
  if ((await packs.size(loc.pack)) < loc.offset + loc.clen) return EMPTY;
  const bytes = await packs.read(loc.pack, loc.offset, loc.clen);
  return crc32(bytes) === loc.crc ? bytes : EMPTY;
}
