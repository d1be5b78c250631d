/**
 * What a cache takes on disk, file by file, and what removing paths frees:
 * the model `gc --max-size` plans with. Pure: each backend's run fills it
 * from what it measured (`du -sb`-style, see `_measure.ts`).
 *
 * ```
 * bytes on disk = other        KV database, directories, nix-cache-info, logs no path
 *                              keeps…: gc does not shrink them, except the database's
 *                              free pages (VACUUM)
 *               + path files   the filesystem backend's <hash>.narinfo (0 for kv)
 *               + NAR files    its nar/ file, or the kv backend's manifest; also the
 *                              side files (`side_files.ts`: a path's listing, its
 *                              deriver's log), files without chunks that paths share
 *               + packs        a pack stays whole while one live chunk remains in it:
 *                              dead chunks take space until it is compacted (its live
 *                              chunks copied to a new pack of exactly their size)
 * ```
 * A NAR file goes when its last path goes, unless it is *held*: in use by
 * work in progress (an upload awaiting its narinfo, an import). A pack goes
 * when its last live chunk goes, unless it is *kept* (young and named by no
 * manifest: an import is still writing it).
 */

/** One compressed chunk a NAR file's manifest names. */
export interface ChunkSpan {
  pack: string;
  offset: number;
  clen: number;
}

export interface ModelFile {
  /** Bytes of the file itself (NAR file, or manifest). */
  bytes: number;
  /** Chunks it needs (kv backend); the same chunk may appear twice. */
  chunks: ChunkSpan[];
  /** Work in progress needs it: it stays when its paths go. */
  held: boolean;
}

export interface ModelPath {
  file: string;
  bytes: number;
  /** Keys in `files` of the side files it keeps (they go with their last path). */
  sides?: string[];
}

export interface ModelPack {
  size: number;
  /** Stays even without a live chunk (young, named by no manifest). */
  kept: boolean;
}

export interface SpaceInit {
  /** Bytes no removal changes (see above), database free pages included. */
  other: number;
  /** Free pages of the database, in bytes: what VACUUM would give back. */
  kvFree: number;
  /** Packs whose live share is below this are compacted anyway (the sweep's rule). */
  compactBelow: number;
  packs: Map<string, ModelPack>;
  /** By file hash. */
  files: Map<string, ModelFile>;
  /** Published paths: the NAR file each uses, the bytes of its own file, its side files. */
  paths: Map<string, ModelPath>;
}

/** What the sweep will do to fit a limit, and the result. */
export interface SpaceChoice {
  /** Packs to compact beyond the `compactBelow` rule. */
  compact: string[];
  /** Whether the database must be VACUUMed. */
  vacuum: boolean;
  /** Predicted bytes on disk after the sweep. */
  after: number;
  /** Bytes of files the sweep deletes, minus the bytes compaction writes: exact. */
  freed: number;
}

interface PackState {
  size: number;
  kept: boolean;
  live: number;
  liveChunks: number;
}

export class SpaceModel {
  readonly before: number;
  #other: number;
  #kvFree: number;
  #compactBelow: number;
  #packs = new Map<string, PackState>();
  #files: Map<string, ModelFile>;
  #users = new Map<string, number>();
  #paths: Map<string, ModelPath>;
  /** Live references per chunk (`pack/offset`). */
  #refs = new Map<string, number>();
  #pathBytes = 0;
  #fileBytes = 0;
  #packLive = 0;
  #keptBytes = 0;

  constructor(init: SpaceInit) {
    this.#other = init.other;
    this.#kvFree = init.kvFree;
    this.#compactBelow = init.compactBelow;
    this.#files = init.files;
    this.#paths = init.paths;
    let packBytes = 0, allFiles = 0, allPaths = 0;
    for (const [id, p] of init.packs) {
      this.#packs.set(id, { size: p.size, kept: p.kept, live: 0, liveChunks: 0 });
      packBytes += p.size;
    }
    for (const f of init.files.values()) allFiles += f.bytes;
    for (const p of init.paths.values()) {
      allPaths += p.bytes;
      for (const f of filesOf(p)) this.#users.set(f, (this.#users.get(f) ?? 0) + 1);
    }
    this.before = init.other + packBytes + allFiles + allPaths;
    this.#pathBytes = allPaths;
    // Files nothing uses or holds are gone from the start (the sweep deletes them).
    for (const [fh, f] of init.files) {
      if (!f.held && !this.#users.get(fh)) continue;
      this.#fileBytes += f.bytes;
      for (const c of distinct(f.chunks)) {
        const key = chunkKey(c);
        const n = this.#refs.get(key) ?? 0;
        this.#refs.set(key, n + 1);
        const p = this.#packs.get(c.pack);
        if (n > 0 || !p) continue; // counted already, or a missing pack: nothing to free
        p.live += c.clen;
        p.liveChunks++;
        this.#packLive += c.clen;
      }
    }
    for (const p of this.#packs.values()) {
      if (p.kept && p.liveChunks === 0) this.#keptBytes += p.size;
    }
  }

  /** Takes a path out: its own file goes, and its NAR file and side files with their last user. */
  removePath(hashPart: string): void {
    const p = this.#paths.get(hashPart);
    if (!p) return;
    this.#paths.delete(hashPart);
    this.#pathBytes -= p.bytes;
    for (const f of filesOf(p)) this.#release(f);
  }

  #release(key: string): void {
    const n = (this.#users.get(key) ?? 1) - 1;
    this.#users.set(key, n);
    const f = this.#files.get(key);
    if (n > 0 || !f || f.held) return;
    this.#fileBytes -= f.bytes;
    for (const c of distinct(f.chunks)) {
      const key = chunkKey(c);
      const left = (this.#refs.get(key) ?? 1) - 1;
      this.#refs.set(key, left);
      const pack = this.#packs.get(c.pack);
      if (left > 0 || !pack) continue;
      pack.live -= c.clen;
      pack.liveChunks--;
      this.#packLive -= c.clen;
      if (pack.liveChunks === 0 && pack.kept) this.#keptBytes += pack.size;
    }
  }

  /** The least the sweep can leave: every pack with dead chunks compacted, the database VACUUMed. */
  reachable(): number {
    return this.#other - this.#kvFree + this.#pathBytes + this.#fileBytes + this.#packLive +
      this.#keptBytes;
  }

  /** Bytes no path needs and gc cannot free: `other` without the database's free pages. */
  base(): number {
    return this.#other - this.#kvFree;
  }

  /**
   * The sweep's work for `limit`: packs without a live chunk go, packs below
   * `compactBelow` are compacted; while the result is over the limit, the
   * database is VACUUMed, then the packs with the most dead bytes compacted.
   */
  choose(limit?: number): SpaceChoice {
    let packs = 0;
    const candidates: { id: string; dead: number }[] = [];
    for (const [id, p] of this.#packs) {
      if (p.liveChunks === 0) packs += p.kept ? p.size : 0;
      else if (p.live < p.size * this.#compactBelow) packs += p.live;
      else {
        packs += p.size;
        if (p.live < p.size) candidates.push({ id, dead: p.size - p.live });
      }
    }
    const files = this.#pathBytes + this.#fileBytes;
    let after = this.#other + files + packs;
    const freed = this.before - after;
    let vacuum = false;
    const compact: string[] = [];
    if (limit !== undefined && after > limit && this.#kvFree > 0) {
      vacuum = true;
      after -= this.#kvFree;
    }
    candidates.sort((a, b) => b.dead - a.dead || a.id.localeCompare(b.id));
    for (const c of candidates) {
      if (limit === undefined || after <= limit) break;
      compact.push(c.id);
      after -= c.dead;
    }
    let extra = 0;
    for (const id of compact) extra += this.#packs.get(id)!.size - this.#packs.get(id)!.live;
    return { compact, vacuum, after, freed: freed + extra };
  }
}

function filesOf(p: ModelPath): string[] {
  return p.sides?.length ? [p.file, ...p.sides] : [p.file];
}

function chunkKey(c: ChunkSpan): string {
  return `${c.pack}/${c.offset}`;
}

/** Each chunk once (a NAR may repeat one). */
function* distinct(chunks: ChunkSpan[]): Generator<ChunkSpan> {
  const seen = new Set<string>();
  for (const c of chunks) {
    const key = chunkKey(c);
    if (seen.has(key)) continue;
    seen.add(key);
    yield c;
  }
}
