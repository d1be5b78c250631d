/**
 * The space model of a kv-backend cache (`space_model.ts`), read from disk
 * and KV with the sweep's own rules: what `sweepStore` will keep, delete or
 * compact, file by file.
 */
import { K } from "../kv/keys.ts";
import type { NarFileRecord, NarRecord } from "../kv/records.ts";
import { listObjects, readManifest } from "./_kv_disk.ts";
import { LOCAL } from "../store/pack_places.ts";
import { narFileHeld, recentUploads } from "./_liveness.ts";
import type { CacheBytes } from "./_measure.ts";
import { type ChunkSpan, type ModelFile, type ModelPack, SpaceModel } from "./space_model.ts";
import { placesOf, type SweepTarget } from "./sweep_store.ts";
import { modelSides, type SideFiles, sideFilesOf, type Since } from "./side_files.ts";

export async function kvSpace(
  t: SweepTarget,
  records: Map<string, NarRecord>,
  o: {
    since: number;
    compactBelow: number;
    disk: CacheBytes;
    /** Paths earlier rounds of this run removed: their files are this run's to free too. */
    removed: NarRecord[];
    side: SideFiles;
    sideSince: Since;
  },
): Promise<SpaceModel> {
  const uploaded = await recentUploads(t.meta, o.since);
  const narFiles = new Map<string, NarFileRecord>();
  for await (const [key, rec] of t.meta.scan<NarFileRecord>(K.narfilePrefix)) {
    narFiles.set(String(key[1]), rec);
  }
  // The latest publish among each file's paths: if they all go, the file goes unless stored since.
  const published = new Map<string, number>();
  for (const r of [...records.values(), ...o.removed]) {
    published.set(r.fileHash, Math.max(published.get(r.fileHash) ?? 0, r.importedAt));
  }
  // Only the cache dir's own objects take room on its disk: packs and
  // manifests in other storages free nothing there (the model leaves them out).
  const manifests = await listObjects(placesOf(t), "manifests/", ".bin");
  const packFiles = new Map(
    [...await listObjects(placesOf(t), "packs/", ".pack")].filter(([, f]) => f.storage === LOCAL),
  );
  const files = new Map<string, ModelFile>();
  const named = new Set<string>();
  for (const fh of new Set([...narFiles.keys(), ...manifests.keys(), ...published.keys()])) {
    const rec = narFiles.get(fh);
    const man = manifests.get(fh);
    const chunks: ChunkSpan[] = [];
    const read = man && await readManifest(placesOf(t), fh, man.storage);
    for (const c of read ? read.m.chunks : []) {
      chunks.push({ pack: c.pack, offset: c.offset, clen: c.clen });
      named.add(c.pack);
    }
    // A manifest without a record: an import between writing the two, if young.
    const held = rec
      ? narFileHeld(fh, rec.createdAt, o.since, uploaded, published.get(fh))
      : man !== undefined && man.mtime >= o.since;
    files.set(fh, { bytes: man?.storage === LOCAL ? man.size : 0, chunks, held });
  }
  const packs = new Map<string, ModelPack>();
  let packBytes = 0, manifestBytes = 0;
  for (const [id, f] of packFiles) {
    packs.set(id, { size: f.size, kept: f.mtime >= o.since && !named.has(id) });
    packBytes += f.size;
  }
  for (const f of manifests.values()) if (f.storage === LOCAL) manifestBytes += f.size;
  const sides = modelSides(
    await sideFilesOf(o.side, [...records].map(([h, r]) => ({ hashPart: h, deriver: r.deriver }))),
    o.sideSince,
  );
  for (const [name, f] of sides.files) files.set(name, f);
  return new SpaceModel({
    other: o.disk.total - packBytes - manifestBytes - sides.bytes,
    kvFree: o.disk.kvFree,
    compactBelow: o.compactBelow,
    packs,
    files,
    paths: new Map(
      [...records].map(([h, r]) => [h, { file: r.fileHash, bytes: 0, sides: sides.byPath.get(h) }]),
    ),
  });
}
