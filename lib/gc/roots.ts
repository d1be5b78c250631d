/**
 * GC roots: named lists of store paths whose closures gc keeps, with an
 * optional expiry. `arca pin` makes one root per path (`pin:<basename>`);
 * `PUT /gcroots/<name>` (as gcroots-marker caches do) makes named ones.
 *
 * ```
 * ["gcroot", "ci-main"]  → { paths: ["/nix/store/…-system"], createdAt, expiresAt? }
 * ["gcroot", "pin:…-hello"] → { paths: ["/nix/store/…-hello"], createdAt }
 * ```
 */
import { K } from "../kv/keys.ts";
import type { MetaStore } from "../kv/meta_store.ts";
import type { GcRoot } from "../kv/records.ts";
import { parseStorePath, parseStorePathBase } from "../store_path/mod.ts";

/** A root name given over HTTP: letters, digits, `.`, `_`, `-`; `pin:` names are `arca pin`'s. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class RootError extends RangeError {
  override name = "RootError";
}

/** A named root as listed by `arca pins`. */
export interface NamedRoot extends GcRoot {
  name: string;
}

/** Stores (or replaces) root `name`. Throws `RootError` or `StorePathError` on bad input. */
export async function putRoot(
  meta: MetaStore,
  name: string,
  paths: string[],
  expiresAt?: number,
  storeDir = "/nix/store",
  now = Date.now(),
): Promise<void> {
  if (!NAME.test(name) && !isPinName(name)) {
    throw new RootError(
      `Invalid gc root name '${name}': use up to 128 letters, digits, '.', '_' or '-'`,
    );
  }
  if (paths.length === 0) throw new RootError(`gc root '${name}' lists no store paths`);
  for (const p of paths) parseStorePath(p, storeDir);
  if (expiresAt !== undefined && !(expiresAt > now)) {
    throw new RootError(`gc root '${name}' expires in the past`);
  }
  const root: GcRoot = { paths: [...new Set(paths)], createdAt: now };
  if (expiresAt !== undefined) root.expiresAt = expiresAt;
  await meta.applyMany([{ key: [...K.gcroot(name)], value: root }]);
}

/** Deletes root `name`; false when there was none. */
export async function removeRoot(meta: MetaStore, name: string): Promise<boolean> {
  if (!(await listRoots(meta)).some((r) => r.name === name)) return false;
  await meta.applyMany([{ key: [...K.gcroot(name)] }]);
  return true;
}

/** Every root, expired ones included (`expired` tells). */
export async function listRoots(meta: MetaStore): Promise<NamedRoot[]> {
  const out: NamedRoot[] = [];
  for await (const [key, root] of meta.scan<GcRoot>(K.gcrootPrefix)) {
    out.push({ name: String(key[1]), ...root });
  }
  return out;
}

/** Hash parts of the paths named by roots that have not expired at `now`. */
export async function liveRootHashes(meta: MetaStore, now: number): Promise<Set<string>> {
  const out = new Set<string>();
  for (const r of await listRoots(meta)) {
    if (r.expiresAt !== undefined && r.expiresAt <= now) continue;
    for (const p of r.paths) {
      const base = p.slice(p.lastIndexOf("/") + 1);
      try {
        out.add(parseStorePathBase(base).hashPart);
      } catch { /* checked when stored */ }
    }
  }
  return out;
}

/** The root name `arca pin` uses for a store path. */
export function pinName(storePath: string): string {
  return `pin:${storePath.slice(storePath.lastIndexOf("/") + 1)}`;
}

function isPinName(name: string): boolean {
  try {
    parseStorePathBase(name.slice(4));
    return name.startsWith("pin:");
  } catch {
    return false;
  }
}
