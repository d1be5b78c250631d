/**
 * Pushed paths held back until their references are published.
 *
 * `cachix push` uploads a closure in parallel and in store-path order, not
 * references first (`pushClosure` in cachix's Push.hs), so a path often
 * arrives before its references. Arca still publishes a path only after
 * them (the closure invariant), but it does not refuse such a path when the
 * references are on their way: a reference counts as on its way when the
 * client was told it is missing in the last `ttlMs` (the "which of these are
 * missing" query a push starts with, or a HEAD of its narinfo), or when it
 * waits here itself. The path, verified in every other way by
 * `acceptUpload`, then waits in memory and is published as soon as its last
 * missing reference is (`published`), or dropped after `ttlMs`. A path
 * lacking a reference nobody announced is refused as before.
 *
 * Waiting paths are lost if the server stops; they were reported missing
 * all along, so the next push sends them again.
 */
import type { PathMeta } from "../narinfo/path_meta.ts";
import { parseStorePath, parseStorePathBase } from "../store_path/mod.ts";
import { acceptUpload } from "./accept_upload.ts";
import type { UploadContext } from "./upload_context.ts";
import { ReferencesMissing, UploadRefused } from "./upload_refused.ts";

export interface WaitLimits {
  /** Announced hashes kept (the oldest go first). */
  maxAnnounced: number;
  maxWaiting: number;
  ttlMs: number;
}

export const WAIT_LIMITS: WaitLimits = {
  maxAnnounced: 200_000,
  maxWaiting: 50_000,
  ttlMs: 60 * 60_000,
};

export interface WaitHooks {
  /** Runs after this module published a path (e.g. refresh the narinfo index). */
  onPublish(storePath: string): Promise<void>;
  /** A waiting path was given up: expired, or refused when tried again. */
  onDrop(storePath: string, reason: string): void;
  /** The advice `acceptUpload` gives with an "untrusted" refusal. */
  signHint?: string;
}

interface Waiting {
  meta: PathMeta;
  /** Hash parts of the references still missing when it was last tried. */
  missing: string[];
  until: number;
}

export type OfferResult = "imported" | "exists" | "waiting";

export class WaitingPaths {
  #announced = new Map<string, number>();
  #waiting = new Map<string, Waiting>();
  #waiters = new Map<string, Set<string>>();

  constructor(
    private readonly ctx: UploadContext,
    private readonly limits: WaitLimits,
    private readonly hooks: WaitHooks,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#waiting.size;
  }

  /** Whether `hashPart` is held back here. */
  isWaiting(hashPart: string): boolean {
    return this.#waiting.has(hashPart);
  }

  /** The client was told these paths are missing: it is about to push them. */
  announce(hashParts: Iterable<string>): void {
    const until = this.now() + this.limits.ttlMs;
    for (const h of hashParts) {
      this.#announced.delete(h);
      this.#announced.set(h, until);
    }
    for (const h of this.#announced.keys()) {
      if (this.#announced.size <= this.limits.maxAnnounced) break;
      this.#announced.delete(h);
    }
  }

  /**
   * Publishes `meta` when `acceptUpload` takes it, and then whatever waited
   * for it; holds it back when only announced references are missing.
   * Every other refusal is thrown, as is a `ReferencesMissing` naming a
   * reference nobody announced.
   */
  async offer(meta: PathMeta): Promise<OfferResult> {
    const hashPart = parseStorePath(meta.storePath, this.ctx.storeDir).hashPart;
    this.#unpark(hashPart);
    let status: "imported" | "exists";
    try {
      status = (await acceptUpload(this.ctx, meta, this.hooks.signHint)).status;
    } catch (e) {
      if (!(e instanceof ReferencesMissing)) throw e;
      const missing = e.missing.map((r) => parseStorePathBase(r).hashPart);
      const unannounced = e.missing.filter((_, i) => !this.#onItsWay(missing[i]));
      if (unannounced.length) {
        throw new ReferencesMissing(meta.storePath, unannounced);
      }
      this.#park(hashPart, meta, missing, this.now() + this.limits.ttlMs);
      return "waiting";
    }
    if (status === "imported") await this.hooks.onPublish(meta.storePath);
    await this.published(meta.storePath);
    return status;
  }

  /** `storePath` is published now: the paths waiting for it are tried again, and so on. */
  published(storePath: string): Promise<void> {
    return this.#cascade(parseStorePath(storePath, this.ctx.storeDir).hashPart);
  }

  async #cascade(hashPart: string): Promise<void> {
    const queue = [hashPart];
    while (queue.length) {
      const ready = this.#waiters.get(queue.shift()!);
      if (!ready) continue;
      for (const h of [...ready]) {
        const w = this.#waiting.get(h);
        if (!w) continue;
        this.#unpark(h);
        const status = await this.#retry(h, w);
        if (status === "imported") await this.hooks.onPublish(w.meta.storePath);
        if (status !== undefined) queue.push(h);
      }
    }
  }

  /**
   * Drops expired announcements and paths, and tries again the paths whose
   * references were published meanwhile by others (another process, or a
   * route that does not call `published`).
   */
  async sweep(): Promise<void> {
    const t = this.now();
    for (const [h, until] of this.#announced) if (until < t) this.#announced.delete(h);
    for (const [h, w] of [...this.#waiting]) {
      if (w.until >= t) continue;
      this.#unpark(h);
      this.hooks.onDrop(
        w.meta.storePath,
        `its references ${w.missing.join(", ")} did not arrive in time`,
      );
    }
    for (const h of [...this.#waiters.keys()]) {
      if (await this.ctx.store.getNarinfo(h)) await this.#cascade(h);
    }
  }

  /** Tries a waiting path again: its new status, or undefined when it waits on or was dropped. */
  async #retry(h: string, w: Waiting): Promise<"imported" | "exists" | undefined> {
    try {
      return (await acceptUpload(this.ctx, w.meta, this.hooks.signHint)).status;
    } catch (e) {
      if (e instanceof ReferencesMissing) {
        this.#park(h, w.meta, e.missing.map((r) => parseStorePathBase(r).hashPart), w.until);
      } else {
        // Refused now (its NAR collected meanwhile, say) or Arca's own failure:
        // either way the path goes, and the others are still tried.
        this.hooks.onDrop(w.meta.storePath, e instanceof Error ? e.message : String(e));
      }
      return undefined;
    }
  }

  #onItsWay(hashPart: string): boolean {
    const until = this.#announced.get(hashPart);
    return (until !== undefined && until >= this.now()) || this.#waiting.has(hashPart);
  }

  #park(hashPart: string, meta: PathMeta, missing: string[], until: number): void {
    if (this.#waiting.size >= this.limits.maxWaiting) {
      throw new UploadRefused(
        "busy",
        `${meta.storePath}: ${this.#waiting.size} paths wait for their references already,` +
          ` the most Arca holds: push references first, or try again later`,
      );
    }
    this.#waiting.set(hashPart, { meta, missing, until });
    for (const m of missing) {
      let set = this.#waiters.get(m);
      if (!set) this.#waiters.set(m, set = new Set());
      set.add(hashPart);
    }
  }

  #unpark(hashPart: string): void {
    const w = this.#waiting.get(hashPart);
    if (!w) return;
    this.#waiting.delete(hashPart);
    for (const m of w.missing) {
      const set = this.#waiters.get(m);
      set?.delete(hashPart);
      if (set?.size === 0) this.#waiters.delete(m);
    }
  }
}
