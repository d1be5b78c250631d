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
import type { Compression } from "../compress/mod.ts";
import { CompressPool } from "./compress_pool.ts";
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
  const fresh = new Map<string, Slot>();
  // Chunks in order, waiting for their compressed bytes; bounded so memory stays flat.
  const queue: Slot[] = [];
  let narSize = 0;
  let fileSize = 0;

  // Appends the oldest slot's bytes in NAR order: pack, FileHash, manifest.
  const settle = async (slot: Slot) => {
    const stored = await slot.bytes!;
    // Only the place is remembered, not the bytes: memory stays flat.
    slot.bytes = undefined;
    if (!slot.loc) {
      const offset = await pack.append(stored);
      slot.loc = {
        pack: pack.id,
        offset,
        clen: stored.length,
        ulen: slot.ulen,
        crc: crc32(stored),
      };
      newChunks.push({ id: slot.id, loc: slot.loc });
    }
    fileHasher.update(stored);
    fileSize += stored.length;
    manifest.chunks.push({ id: slot.id, ...slot.loc } satisfies ChunkRef);
  };

  const take = async (chunks: Uint8Array[]) => {
    if (chunks.length === 0) return;
    const ids = chunks.map((c) => new Uint8Array(createHash("sha256").update(c).digest()));
    const known = deps.meta ? await deps.meta.lookupChunks(opts.compression, ids) : [];
    const slots: Slot[] = [];
    const toCompress: Uint8Array[] = [];
    const waiting: Slot[] = [];
    for (let i = 0; i < chunks.length; i++) {
      const id = ids[i];
      const key = encodeHex(id);
      const first = fresh.get(key);
      let slot: Slot;
      if (first) {
        // A repeat inside this NAR: same place as the first copy; its bytes
        // are made again (compression is deterministic) rather than kept.
        slot = {
          id,
          ulen: first.ulen,
          get loc() {
            return first.loc;
          },
        };
        toCompress.push(chunks[i]);
        waiting.push(slot);
      } else {
        const loc = known[i];
        const kept = loc && deps.packs ? await readIntact(deps.packs, loc) : EMPTY;
        if (loc && kept.length > 0) {
          slot = { id, ulen: loc.ulen, bytes: Promise.resolve(kept), loc };
        } else {
          slot = { id, ulen: chunks[i].length };
          fresh.set(key, slot);
          toCompress.push(chunks[i]);
          waiting.push(slot);
        }
      }
      slots.push(slot);
    }
    // One hand-off for all new chunks of this piece.
    const batch = compressAll(toCompress, opts);
    batch.catch(() => {}); // observed through the slots
    waiting.forEach((slot, k) => slot.bytes = batch.then((out) => out[k]));
    for (const slot of slots) {
      queue.push(slot);
      while (queue.length > IN_FLIGHT) await settle(queue.shift()!);
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
    while (queue.length) await settle(queue.shift()!);
  } catch (e) {
    // Let in-flight compressions finish quietly before dropping the pack.
    await Promise.allSettled(queue.map((s) => s.bytes));
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

interface Slot {
  id: Uint8Array;
  ulen: number;
  /** The stored bytes until the slot is settled. */
  bytes?: Promise<Uint8Array>;
  /** Where the bytes are stored; set for known chunks, or once a new one is appended. */
  loc?: ChunkLocation;
}

/** Chunks in flight: enough to keep every worker busy, few enough to stay small. */
const IN_FLIGHT = 256;

let pool: CompressPool | undefined;

function compressAll(chunks: Uint8Array[], opts: IngestOptions): Promise<Uint8Array[]> {
  if (chunks.length === 0) return Promise.resolve([]);
  if (opts.compression === "none") return Promise.resolve(chunks.map((c) => c.slice()));
  pool ??= new CompressPool();
  return pool.compressMany(chunks, opts.compression, opts.level);
}

/** Stops the compression workers (so the process can exit). */
export function closeIngest(): void {
  pool?.close();
  pool = undefined;
}

const EMPTY = new Uint8Array(0);

/** The stored bytes of a known chunk, or empty if its copy is missing or damaged (store anew). */
async function readIntact(packs: PackReader, loc: ChunkLocation): Promise<Uint8Array> {
  if ((await packs.size(loc.pack)) < loc.offset + loc.clen) return EMPTY;
  const bytes = await packs.read(loc.pack, loc.offset, loc.clen);
  return crc32(bytes) === loc.crc ? bytes : EMPTY;
}
