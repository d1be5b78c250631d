/**
 * The space half of gc: mark and sweep over the kv backend's files.
 *
 * ```
 * mark:   narinfo records ─▶ their NAR files ─▶ manifests ─▶ live (pack, offset)s
 *         + NAR files, manifests and packs younger than the grace period (work in progress)
 * sweep:  NAR file records, chunk index entries and manifests nothing live uses
 *         packs without a live chunk: doomed now, deleted once doomed for the grace period
 *         packs mostly dead: live chunks copied to a new pack, manifests rewritten
 * ```
 * Why the delays: an import that looked a chunk up before this run may still
 * write a manifest pointing into a pack gc found unused; by the next run that
 * manifest makes the pack live again. Imports running longer than the grace
 * period hold a lease (`["lease", id]`); while one is live no file is deleted.
 * A download that already started keeps reading through its open handle: an
 * unlinked file stays readable on Linux until closed.
 */
import { crc32 } from "node:zlib";
import { type CacheLayout, manifestPath, packPath } from "../blob/cache_layout.ts";
import { writeFileAtomic } from "../blob/atomic_file.ts";
import type { PackReader } from "../blob/pack_reader.ts";
import { PackWriter } from "../blob/pack_writer.ts";
import { K } from "../kv/keys.ts";
import type { BatchItem, MetaStore } from "../kv/meta_store.ts";
import type { ChunkLocation, NarFileRecord } from "../kv/records.ts";
import { decodeManifest, encodeManifest } from "../store/manifest.ts";

/** What sweeping needs from the kv backend (`KvStore` has all three). */
export interface SweepTarget {
  layout: CacheLayout;
  meta: MetaStore;
  packs: PackReader;
}

export interface SweepOptions {
  now: number;
  graceMs: number;
  /** A live lease (import or upload in flight): clean metadata, delete no file. */
  leased: boolean;
  /** Compact packs whose live bytes are below this fraction (0 turns compaction off). */
  compactBelow?: number;
}

export interface SweepStats {
  narFiles: number;
  manifests: number;
  chunkEntries: number;
  packsDeleted: number;
  packsCompacted: number;
  /** Unused packs waiting for their grace period. */
  packsDoomed: number;
  /** Bytes of pack files deleted, minus the bytes of the packs compaction wrote. */
  diskBytesFreed: number;
}

type Live = Map<string, Map<number, { clen: number; crc: number }>>;

export async function sweepStore(t: SweepTarget, o: SweepOptions): Promise<SweepStats> {
  const stats: SweepStats = {
    narFiles: 0,
    manifests: 0,
    chunkEntries: 0,
    packsDeleted: 0,
    packsCompacted: 0,
    packsDoomed: 0,
    diskBytesFreed: 0,
  };
  const since = o.now - o.graceMs;
  const used = new Set<string>();
  for await (const [, r] of t.meta.listNars()) used.add(r.fileHash);

  // NAR files: used by a path, or young (an upload awaiting its narinfo).
  const dead: { fh: string; rec: NarFileRecord; vs: string }[] = [];
  const liveFiles = new Set<string>();
  for await (const [key, rec, vs] of t.meta.scan<NarFileRecord>(K.narfilePrefix)) {
    const fh = String(key[1]);
    if (used.has(fh) || rec.createdAt >= since) liveFiles.add(fh);
    else dead.push({ fh, rec, vs });
  }
  const manifests = await listDir(t.layout.manifests, ".bin");
  for (const [fh, f] of manifests) if (f.mtime >= since) liveFiles.add(fh);

  // Mark.
  const live: Live = new Map();
  const users = new Map<string, Set<string>>();
  for (const fh of liveFiles) {
    const m = await readManifest(t.layout, fh);
    if (!m) continue; // missing or damaged: `arca verify` reports it
    for (const c of m.chunks) {
      let offs = live.get(c.pack);
      if (!offs) live.set(c.pack, offs = new Map());
      offs.set(c.offset, { clen: c.clen, crc: c.crc });
      let u = users.get(c.pack);
      if (!u) users.set(c.pack, u = new Set());
      u.add(fh);
    }
  }
  const packFiles = await listDir(t.layout.packs, ".pack");
  const young = (pack: string) => (packFiles.get(pack)?.mtime ?? 0) >= since;

  // Sweep metadata: NAR file records (and their NarHash index), chunk entries.
  const items: BatchItem[] = [];
  for (const d of dead) {
    items.push({ key: [...K.narfile(d.fh)], check: d.vs, stats: { fileBytes: -d.rec.fileSize } });
  }
  stats.narFiles = await t.meta.applyMany(items);
  const hashIdx: BatchItem[] = [];
  for (const d of dead) {
    const nh = d.rec.narHash.replace(/^sha256:/, "");
    if ((await t.meta.findNarFile(nh)) === d.fh) hashIdx.push({ key: [...K.narhash(nh)] });
  }
  await t.meta.applyMany(hashIdx);
  const chunkItems: BatchItem[] = [];
  const byPack = new Map<string, [Deno.KvKey, ChunkLocation, string][]>();
  for await (const [key, loc, vs] of t.meta.scan<ChunkLocation>(K.chunkPrefix)) {
    if (live.get(loc.pack)?.has(loc.offset)) {
      let l = byPack.get(loc.pack);
      if (!l) byPack.set(loc.pack, l = []);
      l.push([key, loc, vs]);
    } else if (!young(loc.pack)) chunkItems.push({ key, check: vs, stats: { chunks: -1 } });
  }
  stats.chunkEntries = await t.meta.applyMany(chunkItems);

  // Sweep files, unless work in flight may still need them.
  if (o.leased) return stats;
  for (const [fh, f] of manifests) {
    if (liveFiles.has(fh) || f.mtime >= since) continue;
    const path = manifestPath(t.layout, fh);
    const bytes = await Deno.readFile(path).catch(() => undefined);
    await Deno.remove(path).catch(() => {});
    // An import of the same NAR may have re-committed its record meanwhile,
    // trusting this manifest to exist: put it back.
    if (bytes && (await t.meta.getNarFile(fh))) {
      await writeFileAtomic(t.layout.tmp, path, bytes);
    } else stats.manifests++;
  }

  const records = new Map<string, number>();
  for await (const [key, rec] of t.meta.scan<{ size: number }>(K.packPrefix)) {
    records.set(String(key[1]), rec.size);
  }
  const doomed = new Map<string, [number, string]>();
  for await (const [key, at, vs] of t.meta.scan<number>(K.doomedPrefix)) {
    doomed.set(String(key[1]), [at, vs]);
  }
  const compactBelow = o.compactBelow ?? 0.5;
  const doom: string[] = [];
  for (const [id, f] of packFiles) {
    const offs = live.get(id);
    if (offs) {
      if (doomed.has(id)) await t.meta.applyMany([{ key: [...K.doomed(id)] }]);
      if (young(id)) continue;
      let liveBytes = 0;
      for (const c of offs.values()) liveBytes += c.clen;
      if (liveBytes < f.size * compactBelow) {
        const done = await compactPack(t, id, offs, users.get(id)!, byPack.get(id) ?? [], o.now);
        if (done !== undefined) {
          stats.packsCompacted++;
          stats.diskBytesFreed -= done;
          doom.push(id);
        }
      }
    } else if (!young(id)) doom.push(id);
  }
  for (const id of doom) {
    const at = doomed.get(id)?.[0] ?? o.now;
    if (!doomed.has(id)) await t.meta.applyMany([{ key: [...K.doomed(id)], value: at }]);
    if (at + o.graceMs > o.now) {
      stats.packsDoomed++;
      continue;
    }
    await Deno.remove(packPath(t.layout, id)).catch(() => {});
    const size = records.get(id);
    await t.meta.applyMany([
      { key: [...K.doomed(id)] },
      ...(size === undefined ? [] : [{ key: [...K.pack(id)], stats: { storedBytes: -size } }]),
    ]);
    records.delete(id);
    stats.packsDeleted++;
    stats.diskBytesFreed += packFiles.get(id)!.size;
  }
  // Records of packs that are gone from disk (damage, or a crash mid-gc).
  for (const [id, size] of records) {
    if (!packFiles.has(id) && !live.has(id)) {
      await t.meta.applyMany([{ key: [...K.pack(id)], stats: { storedBytes: -size } }]);
    }
  }
  for (const id of doomed.keys()) {
    if (!packFiles.has(id)) await t.meta.applyMany([{ key: [...K.doomed(id)] }]);
  }
  return stats;
}

/**
 * Copies a pack's live chunks to a new pack, points the manifests and chunk
 * entries at the copies, and returns the new pack's size (undefined when a
 * chunk was damaged: the pack is left for `arca verify`).
 */
async function compactPack(
  t: SweepTarget,
  id: string,
  offs: Map<number, { clen: number; crc: number }>,
  users: Set<string>,
  entries: [Deno.KvKey, ChunkLocation, string][],
  now: number,
): Promise<number | undefined> {
  const w = new PackWriter(t.layout);
  const moved = new Map<number, number>();
  try {
    for (const [off, c] of [...offs].sort((a, b) => a[0] - b[0])) {
      const bytes = await t.packs.read(id, off, c.clen);
      if (crc32(bytes) !== c.crc) throw new RangeError(`pack ${id}: damaged chunk at ${off}`);
      moved.set(off, await w.append(bytes));
    }
  } catch {
    w.abort();
    return undefined;
  }
  const size = w.size;
  await w.seal();
  await t.meta.applyMany([{
    key: [...K.pack(w.id)],
    value: { size, createdAt: now },
    stats: { storedBytes: size },
  }]);
  for (const fh of users) {
    const m = await readManifest(t.layout, fh);
    if (!m) continue;
    for (const c of m.chunks) {
      const to = c.pack === id ? moved.get(c.offset) : undefined;
      if (to !== undefined) (c.pack = w.id, c.offset = to);
    }
    await writeFileAtomic(t.layout.tmp, manifestPath(t.layout, fh), encodeManifest(m));
  }
  await t.meta.applyMany(entries.map(([key, loc, vs]) => ({
    key,
    check: vs,
    value: { ...loc, pack: w.id, offset: moved.get(loc.offset)! },
  })));
  return size;
}

async function readManifest(l: CacheLayout, fh: string) {
  try {
    return decodeManifest(await Deno.readFile(manifestPath(l, fh)));
  } catch {
    return undefined;
  }
}

/** Files in `dir` ending with `ext`, by name without it: size and mtime (ms). */
async function listDir(dir: string, ext: string) {
  const out = new Map<string, { size: number; mtime: number }>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !e.name.endsWith(ext)) continue;
    const st = await Deno.stat(`${dir}/${e.name}`).catch(() => undefined);
    if (st) {
      out.set(e.name.slice(0, -ext.length), { size: st.size, mtime: st.mtime?.getTime() ?? 0 });
    }
  }
  return out;
}
