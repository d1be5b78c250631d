/**
 * Keeps this node's holder registers in line with the local cache: a path
 * imported (or uploaded) is held on every segment it is routed to, a path
 * collected by gc is released. The whole cache is compared once at start
 * (gc may have run while the swarm was down), then the change feed is
 * followed, as `serve` follows it.
 *
 * A path is offered on a segment only with signatures that segment trusts:
 * peers would refuse it otherwise. Paths without one are counted and
 * reported once per segment.
 *
 * @module
 */
import type { PublicKey } from "../sign/mod.ts";
import { entryKey } from "./proto/entry.ts";
import type { LocalPath, LocalPaths } from "./ports.ts";
import type { Replica } from "./replica.ts";
import { routePath, validSigs } from "./segment_runtime.ts";

export interface TrackerOptions {
  storeDir: string;
  nixpkgsKeys: PublicKey[];
  log: (msg: string) => void;
}

/** Clocks of other processes differ slightly: re-read a little before the last change seen. */
const OVERLAP_MS = 5_000;
const BATCH = 500;

export class LocalTracker {
  /** hashPart -> the entry key of the local path (for releasing after a removal). */
  #local = new Map<string, string>();
  #since = 0;
  #refreshing: Promise<void> | undefined;
  #again = false;
  #unsigned = new Map<string, number>();

  constructor(
    private paths: LocalPaths,
    private replicas: Replica[],
    private opts: TrackerOptions,
  ) {}

  /** Paths of the local cache shared on at least one segment. */
  get size(): number {
    return this.#local.size;
  }

  /** Compares the whole cache, then follows its changes until `signal` aborts. */
  async start(signal: AbortSignal): Promise<void> {
    const t0 = Date.now();
    const wanted = new Map(this.replicas.map((r) => [r, new Set<string>()]));
    let batch: LocalPath[] = [];
    const flush = async () => {
      await this.#holdAll(batch, wanted);
      batch = [];
    };
    for await (const p of this.paths.list()) {
      batch.push(p);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    for (const r of this.replicas) {
      const keep = wanted.get(r)!;
      const gone = [...r.held].filter((k) => !keep.has(k));
      if (gone.length) {
        await r.release(gone);
        this.opts.log(`segment ${r.seg.name}: ${gone.length} paths no longer held here`);
      }
    }
    this.#reportUnsigned();
    this.#since = t0 - OVERLAP_MS;
    void this.paths.follow(signal, () => void this.refresh());
  }

  /** Applies the changes since the last look; concurrent calls coalesce. */
  refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      do {
        this.#again = false;
        const t0 = Date.now();
        const seen = new Set<string>();
        for await (const ch of this.paths.changes(this.#since)) seen.add(ch.hashPart);
        const added: LocalPath[] = [];
        const removed: string[] = [];
        for (const h of seen) {
          const p = await this.paths.get(h);
          if (p) added.push(p);
          else if (this.#local.has(h)) removed.push(h);
        }
        await this.#holdAll(added);
        if (removed.length) {
          const keys = removed.map((h) => this.#local.get(h)!);
          for (const h of removed) this.#local.delete(h);
          for (const r of this.replicas) await r.release(keys);
        }
        this.#reportUnsigned();
        this.#since = t0 - OVERLAP_MS;
      } while (this.#again);
    })().catch((e) => {
      this.opts.log(`following the local cache failed (will retry): ${(e as Error).message}`);
    }).finally(() => this.#refreshing = undefined);
    return this.#refreshing;
  }

  async #holdAll(paths: LocalPath[], wanted?: Map<Replica, Set<string>>): Promise<void> {
    const per = new Map<Replica, LocalPath[]>();
    for (const p of paths) {
      const key = entryKey(p);
      const previous = this.#local.get(p.hashPart);
      this.#local.set(p.hashPart, key);
      const routed = new Set(
        routePath(
          p,
          this.replicas.map((r) => r.seg),
          () => validSigs(p, p.sigs, this.opts.nixpkgsKeys, this.opts.storeDir).length > 0,
        ),
      );
      for (const r of this.replicas) {
        // A path replaced under the same hash part (a rebuild) releases its old entry.
        if (previous && previous !== key && r.held.has(previous)) await r.release([previous]);
        if (!routed.has(r.seg)) {
          if (r.held.has(key)) await r.release([key]);
          continue;
        }
        // At start a path already held keeps its checked signatures (verifying
        // costs ~80 us each, seconds for a big cache); changes re-check them.
        if (wanted && r.held.has(key)) {
          wanted.get(r)!.add(key);
          continue;
        }
        const sigs = validSigs(p, p.sigs, r.seg.trusted, this.opts.storeDir);
        if (!sigs.length) {
          this.#unsigned.set(r.seg.name, (this.#unsigned.get(r.seg.name) ?? 0) + 1);
          if (r.held.has(key)) await r.release([key]);
          continue;
        }
        wanted?.get(r)?.add(key);
        let list = per.get(r);
        if (!list) per.set(r, list = []);
        list.push({ ...p, sigs });
      }
    }
    for (const [r, list] of per) await r.hold(list);
  }

  #reportUnsigned(): void {
    for (const [seg, n] of this.#unsigned) {
      this.opts.log(
        `segment ${seg}: ${n} local paths are not shared: none of their signatures is by a key` +
          " the segment trusts (trusted_public_keys)",
      );
    }
    this.#unsigned.clear();
  }
}
