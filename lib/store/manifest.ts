/**
 * A NAR's recipe: the ordered list of chunks whose compressed bytes, read
 * back to back, are the NAR file that Nix downloads. Stored as a small binary
 * file named after the NAR's FileHash.
 *
 * ```
 * "ARCAMAN1" | u8 compression | u32 packCount | u32 chunkCount
 * packCount × (u8 len | ascii pack id)
 * chunkCount × (32-byte sha256 of the plain chunk | u32 pack index | u64 offset
 *               | u32 compressed length | u32 plain length | u32 crc32 of the compressed bytes)
 * ```
 * All integers little-endian. The crc32 lets `serve` check what it reads at
 * memory speed; the sha256 is the chunk's identity for dedup and `verify`.
 */
import type { Compression } from "../compress/mod.ts";
import type { ChunkLocation } from "../kv/records.ts";

export interface ChunkRef {
  id: Uint8Array;
  pack: string;
  offset: number;
  clen: number;
  ulen: number;
  crc: number;
}

export interface Manifest {
  compression: Compression;
  chunks: ChunkRef[];
}

const MAGIC = "ARCAMAN1";
const METHODS: Compression[] = ["none", "zstd", "xz"];
const ENTRY = 32 + 4 + 8 + 4 + 4 + 4;

export function encodeManifest(m: Manifest): Uint8Array {
  const b = new ManifestBuilder(m.compression);
  for (const c of m.chunks) b.add(c.id, c);
  return b.encode();
}

/**
 * Builds a manifest's bytes one chunk at a time, keeping each entry in its
 * encoded form (56 bytes): an import of a 1 GiB NAR adds ~16k chunks, which as
 * `ChunkRef` objects held ~15 MiB of heap until the end of the import.
 */
export class ManifestBuilder {
  #packs = new Map<string, number>();
  #entries = new Uint8Array(64 * ENTRY);
  #view = new DataView(this.#entries.buffer);
  #count = 0;

  constructor(readonly compression: Compression) {}

  /** Chunks added so far. */
  get count(): number {
    return this.#count;
  }

  /** Appends the chunk `id` stored at `loc` (both copied). */
  add(id: Uint8Array, loc: ChunkLocation): void {
    let p = this.#packs.get(loc.pack);
    if (p === undefined) this.#packs.set(loc.pack, p = this.#packs.size);
    if ((this.#count + 1) * ENTRY > this.#entries.length) {
      const grown = new Uint8Array(this.#entries.length * 2);
      grown.set(this.#entries);
      this.#entries = grown;
      this.#view = new DataView(grown.buffer);
    }
    const o = this.#count++ * ENTRY;
    const dv = this.#view;
    this.#entries.set(id, o);
    dv.setUint32(o + 32, p, true);
    dv.setBigUint64(o + 36, BigInt(loc.offset), true);
    dv.setUint32(o + 44, loc.clen, true);
    dv.setUint32(o + 48, loc.ulen, true);
    dv.setUint32(o + 52, loc.crc >>> 0, true);
  }

  /** The manifest file's bytes. */
  encode(): Uint8Array {
    const enc = new TextEncoder();
    const packs = [...this.#packs.keys()].map((p) => enc.encode(p));
    const head = 8 + 1 + 4 + 4 + packs.reduce((n, p) => n + 1 + p.length, 0);
    const out = new Uint8Array(head + this.#count * ENTRY);
    const dv = new DataView(out.buffer);
    out.set(enc.encode(MAGIC), 0);
    out[8] = METHODS.indexOf(this.compression);
    dv.setUint32(9, packs.length, true);
    dv.setUint32(13, this.#count, true);
    let o = 17;
    for (const p of packs) {
      out[o++] = p.length;
      out.set(p, o);
      o += p.length;
    }
    out.set(this.#entries.subarray(0, this.#count * ENTRY), o);
    return out;
  }
}

/** Parses a manifest; throws `RangeError` naming the defect if the file is damaged. */
export function decodeManifest(b: Uint8Array): Manifest {
  const fail = (what: string): never => {
    throw new RangeError(`Damaged manifest: ${what}`);
  };
  if (b.length < 17 || new TextDecoder().decode(b.subarray(0, 8)) !== MAGIC) fail("bad magic");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const compression = METHODS[b[8]] ?? fail(`unknown compression ${b[8]}`);
  const npacks = dv.getUint32(9, true);
  const n = dv.getUint32(13, true);
  let o = 17;
  const packs: string[] = [];
  for (let i = 0; i < npacks; i++) {
    if (o >= b.length) fail("truncated pack table");
    const len = b[o++];
    if (o + len > b.length) fail("truncated pack table");
    packs.push(new TextDecoder().decode(b.subarray(o, o + len)));
    o += len;
  }
  if (b.length !== o + n * ENTRY) fail(`size ${b.length} does not match ${n} chunks`);
  const chunks: ChunkRef[] = [];
  for (let i = 0; i < n; i++, o += ENTRY) {
    const pack = packs[dv.getUint32(o + 32, true)] ?? fail(`chunk ${i} names pack out of range`);
    chunks.push({
      id: b.slice(o, o + 32),
      pack,
      offset: Number(dv.getBigUint64(o + 36, true)),
      clen: dv.getUint32(o + 44, true),
      ulen: dv.getUint32(o + 48, true),
      crc: dv.getUint32(o + 52, true),
    });
  }
  return { compression, chunks };
}
