/**
 * Storing a NAR that arrives cut into chunks already (a NAR from swarm
 * peers, every chunk checked against its id on the way): the chunk
 * boundaries are the ones FastCDC would draw (same parameters everywhere),
 * so the NAR is not cut again, and a chunk whose bytes came in this cache's
 * compression is appended to the pack as it came. Chunks this cache holds
 * already are only referenced. The result is the same as `ingestChunks`'s
 * for the same NAR: the caller checks the NarHash, seals and records it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { compressChunk, type Compression } from "../compress/mod.ts";
import type { ChunkLocation } from "../kv/records.ts";
import { PackWriter } from "../blob/pack_writer.ts";
import { encodeHex } from "../encoding/hex.ts";
import { ManifestBuilder } from "./manifest.ts";
import type { IngestDeps, IngestOptions, IngestResult } from "./ingest_chunks.ts";

/** A chunk stored by this NAR already: read back from the pack if it repeats (one array for all). */
const NOT_KEPT = new Uint8Array(0);

/** One chunk of a fetched NAR, in order. */
export interface FetchedChunk {
  /** sha256 of `plain`, checked by the caller. */
  id: Uint8Array;
  plain: Uint8Array;
  /** The bytes as they came, and their compression, when they came from a peer. */
  stored?: { method: Compression; data: Uint8Array };
}

/**
 * `narHash`: the NarHash the caller checked the chunks against as they came
 * (a transfer passes its last chunk only once the whole matched); without
 * it the NAR is hashed here.
 */
export async function ingestFetched(
  chunks: AsyncIterable<FetchedChunk>,
  deps: IngestDeps,
  opts: IngestOptions & { narHash?: Uint8Array },
): Promise<IngestResult> {
  const narHasher = opts.narHash ? undefined : createHash("sha256");
  const fileHasher = createHash("sha256");
  const pack = new PackWriter(deps.layout);
  const manifest = new ManifestBuilder(opts.compression);
  const newChunks: { id: Uint8Array; loc: ChunkLocation }[] = [];
  const fresh = new Map<string, { loc: ChunkLocation; bytes: Uint8Array }>();
  let narSize = 0, fileSize = 0, newBytes = 0;
  try {
    for await (const c of chunks) {
      narHasher?.update(c.plain);
      narSize += c.plain.length;
      opts.onProgress?.(narSize);
      const key = encodeHex(c.id);
      const again = fresh.get(key);
      let loc: ChunkLocation | undefined;
      let bytes: Uint8Array | undefined;
      if (again) ({ loc, bytes } = again);
      else if (!c.stored) {
        // Held here already (read for the caller): reference it.
        const [known] = deps.meta ? await deps.meta.lookupChunks(opts.compression, [c.id]) : [];
        const b = known &&
          await deps.packs?.readInto(known.pack, known.offset, new Uint8Array(known.clen))
            .catch(() => undefined);
        if (known && b && crc32(b) === known.crc) [loc, bytes] = [known, b];
      }
      if (!loc || !bytes) {
        bytes = c.stored?.method === opts.compression
          ? c.stored.data
          : compressChunk(c.plain, opts.compression, opts.level);
        const offset = await pack.append(bytes);
        loc = {
          pack: pack.id,
          offset,
          clen: bytes.length,
          ulen: c.plain.length,
          crc: crc32(bytes),
        };
        newChunks.push({ id: c.id.slice(), loc });
        newBytes += bytes.length;
        fresh.set(key, { loc, bytes: NOT_KEPT });
      }
      fileHasher.update(bytes.length ? bytes : pack.readBack(loc.offset, new Uint8Array(loc.clen)));
      fileSize += loc.clen;
      manifest.add(c.id, loc);
    }
  } catch (e) {
    pack.abort();
    throw e;
  }
  return {
    narHash: narHasher ? new Uint8Array(narHasher.digest()) : opts.narHash!,
    narSize,
    fileHash: new Uint8Array(fileHasher.digest()),
    fileSize,
    manifest,
    newChunks,
    newBytes,
    pack,
  };
}
