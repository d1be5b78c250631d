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
  const packs = [...new Set(m.chunks.map((c) => c.pack))];
  const index = new Map(packs.map((p, i) => [p, i]));
  const enc = new TextEncoder();
  const head = 8 + 1 + 4 + 4 + packs.reduce((n, p) => n + 1 + p.length, 0);
  const out = new Uint8Array(head + m.chunks.length * ENTRY);
  const dv = new DataView(out.buffer);
  out.set(enc.encode(MAGIC), 0);
  out[8] = METHODS.indexOf(m.compression);
  dv.setUint32(9, packs.length, true);
  dv.setUint32(13, m.chunks.length, true);
  let o = 17;
  for (const p of packs) {
    out[o++] = p.length;
    out.set(enc.encode(p), o);
    o += p.length;
  }
  for (const c of m.chunks) {
    out.set(c.id, o);
    dv.setUint32(o + 32, index.get(c.pack)!, true);
    dv.setBigUint64(o + 36, BigInt(c.offset), true);
    dv.setUint32(o + 44, c.clen, true);
    dv.setUint32(o + 48, c.ulen, true);
    dv.setUint32(o + 52, c.crc >>> 0, true);
    o += ENTRY;
  }
  return out;
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
