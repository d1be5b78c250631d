/**
 * `arca verify`: re-checks everything the kv backend serves from its bytes.
 *
 * - every NAR file a path uses: its record and manifest exist; every chunk
 *   reads back, matches its crc32, decompresses to its length and hashes to
 *   its id; the chunks decompressed in order hash to the NarHash and, as
 *   stored, to the FileHash;
 * - every path: its NarHash is its NAR file's, and its references are cached;
 * - every chunk index entry points at intact bytes (else dedup would reuse
 *   damage).
 *
 * With `repair`, broken NAR files are taken out of service with every path
 * that uses them, then every path whose reference went (the Quarantine
 * event says why), and bad index entries are deleted.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { decompressChunk } from "../compress/mod.ts";
import { encodeHex, encodeNix32 } from "../encoding/mod.ts";
import { K } from "../kv/keys.ts";
import type { BatchItem } from "../kv/meta_store.ts";
import type { ChunkLocation, NarRecord } from "../kv/records.ts";
import { decodeManifest, type Manifest } from "../store/manifest.ts";
import { placesOf, type SweepTarget } from "./sweep_store.ts";

/** Most bytes read at once when re-hashing chunks stored back to back. */
const STRETCH = 8 << 20;

export interface VerifyProblem {
  kind: "nar" | "reference" | "index";
  /** A store path, a NAR file (`nar/<fileHash>`) or a chunk index entry. */
  subject: string;
  message: string;
}

export interface VerifyReport {
  paths: number;
  narFiles: number;
  chunks: number;
  /** Plain NAR bytes re-hashed. */
  narBytes: number;
  problems: VerifyProblem[];
  /** Store paths taken out of service by `repair`. */
  removed: string[];
}

export interface VerifyOptions {
  repair?: boolean;
  /** Takes every path served from a NAR file out of service (`Store.quarantine`). */
  quarantine?: (fileHash32: string, reason: string) => Promise<string[]>;
}

export async function verifyStore(t: SweepTarget, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const report: VerifyReport = {
    paths: 0,
    narFiles: 0,
    chunks: 0,
    narBytes: 0,
    problems: [],
    removed: [],
  };
  const records = new Map<string, NarRecord>();
  for await (const [h, r] of t.meta.listNars()) records.set(h, r);
  report.paths = records.size;

  const broken = new Map<string, string>();
  const files = new Map<string, NarRecord>();
  for (const r of records.values()) files.set(r.fileHash, r);
  // Chunks a NAR check read intact: their index entries need no second read.
  const seen = new Set<string>();
  for (const [fh, r] of files) {
    report.narFiles++;
    const why = await checkNar(t, fh, r, report, seen);
    if (why) {
      broken.set(fh, why);
      report.problems.push({ kind: "nar", subject: `nar/${fh}`, message: why });
    }
  }
  for (const r of records.values()) {
    const self = r.storePath.slice(r.storePath.lastIndexOf("/") + 1);
    for (const ref of r.references) {
      if (ref !== self && !records.has(ref.slice(0, 32))) {
        report.problems.push({
          kind: "reference",
          subject: r.storePath,
          message: `references ${ref}, which is not in the cache`,
        });
      }
    }
  }
  const badEntries: BatchItem[] = [];
  for await (const [key, loc, vs] of t.meta.scan<ChunkLocation>(K.chunkPrefix)) {
    if (seen.has(`${loc.pack}:${loc.offset}:${loc.crc}`)) continue;
    const why = await checkLocation(t, loc);
    if (!why) continue;
    report.problems.push({
      kind: "index",
      subject: `chunk ${encodeHex(key[2] as Uint8Array)} (${String(key[1])})`,
      message: why,
    });
    badEntries.push({ key, check: vs, stats: { chunks: -1 } });
  }

  if (opts.repair) {
    for (const [fh, why] of broken) {
      report.removed.push(...(await opts.quarantine?.(fh, `verify: ${why}`) ?? []));
    }
    report.removed.push(...await removeReferrers(t));
    await t.meta.applyMany(badEntries);
  }
  return report;
}

/** What is wrong with one NAR file, or undefined when it is intact. */
async function checkNar(
  t: SweepTarget,
  fh: string,
  r: NarRecord,
  report: VerifyReport,
  seen: Set<string>,
): Promise<string | undefined> {
  const rec = await t.meta.getNarFile(fh);
  if (!rec) return `its NAR file record is missing (used by ${r.storePath})`;
  if (rec.narHash !== r.narHash) {
    return `its NarHash ${rec.narHash} differs from ${r.storePath}'s ${r.narHash}`;
  }
  let m: Manifest;
  try {
    const bytes = await placesOf(t).getManifest(fh, rec.manifestAt);
    if (!bytes) throw new Error("not found");
    m = decodeManifest(bytes);
  } catch (e) {
    return `its manifest is missing or damaged (${(e as Error).message})`;
  }
  const nar = createHash("sha256");
  const file = createHash("sha256");
  let narSize = 0;
  let fileSize = 0;
  // Chunks stored back to back are read together (one ranged GET each stretch on S3).
  let held: { pack: string; at: number; bytes: Uint8Array } | undefined;
  const runs = new Map<number, number>(); // first chunk index -> stretch length in bytes
  for (let i = 0; i < m.chunks.length;) {
    let j = i + 1;
    let len = m.chunks[i].clen;
    while (
      j < m.chunks.length && len < STRETCH && m.chunks[j].pack === m.chunks[i].pack &&
      m.chunks[j].offset === m.chunks[i].offset + len
    ) len += m.chunks[j++].clen;
    runs.set(i, len);
    i = j;
  }
  for (const [i, c] of m.chunks.entries()) {
    let stored: Uint8Array;
    try {
      const run = runs.get(i);
      if (run !== undefined) {
        held = { pack: c.pack, at: c.offset, bytes: await t.packs.read(c.pack, c.offset, run) };
      }
      stored = held!.bytes.subarray(c.offset - held!.at, c.offset - held!.at + c.clen);
    } catch (e) {
      return `chunk ${i} cannot be read: ${(e as Error).message}`;
    }
    if (crc32(stored) !== c.crc) return `chunk ${i} (pack ${c.pack} at ${c.offset}) is damaged`;
    seen.add(`${c.pack}:${c.offset}:${c.crc}`);
    let plain: Uint8Array;
    try {
      plain = decompressChunk(stored, m.compression);
    } catch (e) {
      return `chunk ${i} does not decompress: ${(e as Error).message}`;
    }
    const id = createHash("sha256").update(plain).digest();
    if (plain.length !== c.ulen || encodeHex(id) !== encodeHex(c.id)) {
      return `chunk ${i} decompresses to other bytes than its id says`;
    }
    nar.update(plain);
    file.update(stored);
    narSize += plain.length;
    fileSize += stored.length;
    report.chunks++;
  }
  report.narBytes += narSize;
  const narHash = `sha256:${encodeNix32(nar.digest())}`;
  if (narHash !== rec.narHash || narSize !== rec.narSize) {
    return `its chunks hash to ${narHash} (${narSize} bytes), not ${rec.narHash} (${rec.narSize})`;
  }
  if (encodeNix32(file.digest()) !== fh || fileSize !== rec.fileSize) {
    return `its stored bytes do not hash to its FileHash`;
  }
  return undefined;
}

async function checkLocation(t: SweepTarget, loc: ChunkLocation): Promise<string | undefined> {
  await placesOf(t).resolve([loc.pack]);
  const local = t.packs.isLocal(loc.pack);
  if (local && (t.packs.size(loc.pack)) < loc.offset + loc.clen) {
    return `pack ${loc.pack} is missing or shorter than ${loc.offset + loc.clen}`;
  }
  const bytes = await t.packs.read(loc.pack, loc.offset, loc.clen).catch(() => undefined);
  if (!bytes) return `pack ${loc.pack} is missing or shorter than ${loc.offset + loc.clen}`;
  return crc32(bytes) === loc.crc
    ? undefined
    : `damaged bytes in pack ${loc.pack} at ${loc.offset}`;
}

/** Takes out of service every path whose reference is gone, until none is left. */
async function removeReferrers(t: SweepTarget): Promise<string[]> {
  const out: string[] = [];
  for (let round = 0; round < 100; round++) {
    const have = new Map<string, NarRecord>();
    for await (const [h, r] of t.meta.listNars()) have.set(h, r);
    let any = false;
    for (const [h, r] of have) {
      const gone = r.references.find((b) => !have.has(b.slice(0, 32)));
      if (!gone) continue;
      const ok = await t.meta.removeNar(h, {
        type: "Quarantine",
        time: Date.now(),
        path: r.storePath,
        reason: `verify: its reference ${gone} was taken out of service`,
      });
      if (ok) (out.push(r.storePath), any = true);
    }
    if (!any) break;
  }
  return out;
}
