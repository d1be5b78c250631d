/**
 * What `nix path-info --json` says, read from the local Nix's own SQLite
 * database instead (`/nix/var/nix/db/db.sqlite`, read-only): the post-build
 * hook runs after every build, and starting Nix for the question was ~20 ms
 * of the ~100 ms it added to a build. Only where that database is this
 * store's and readable (root, or single-user Nix): with `NIX_REMOTE`,
 * `NIX_STATE_DIR` or `NIX_STORE_DIR` set, a store elsewhere, a database that
 * cannot be opened or read, or a path it does not hold, the answer is
 * undefined and the caller asks Nix. The tables are the ones Nix has kept
 * since schema 7 (ValidPaths, Refs); the NarHash is a claim here as there,
 * checked against the bytes at import.
 */
import { parseHash } from "../hash/mod.ts";
import type { PathMeta } from "../narinfo/path_meta.ts";
import { nixPathInfo } from "./nix_path_info.ts";

const DB = "/nix/var/nix/db/db.sqlite";
const STORE = "/nix/store/";

interface Row {
  id: number;
  path: string;
  hash: string;
  deriver: string | null;
  narSize: number | null;
  sigs: string | null;
  ca: string | null;
}

/** Path info of `paths` (store paths themselves), with their closure when `closure`. */
export async function nixDbPathInfo(
  paths: string[],
  closure: boolean,
  opts: { db?: string; storeDir?: string } = {},
): Promise<PathMeta[] | undefined> {
  const env = Deno.env.toObject();
  if (env.NIX_REMOTE || env.NIX_STATE_DIR || env.NIX_STORE_DIR) return undefined;
  if ((opts.storeDir ?? "/nix/store") !== "/nix/store") return undefined;
  if (paths.length === 0 || !paths.every((p) => p.startsWith(STORE) && !p.includes("/", 11))) {
    return undefined;
  }
  let db: import("node:sqlite").DatabaseSync;
  try {
    const { DatabaseSync } = await import("node:sqlite");
    db = new DatabaseSync(opts.db ?? DB, { readOnly: true });
  } catch {
    return undefined;
  }
  try {
    db.exec("PRAGMA busy_timeout = 2000");
    const marks = paths.map(() => "?").join(", ");
    const rows = (closure
      ? db.prepare(
        `WITH RECURSIVE c(id) AS (SELECT id FROM ValidPaths WHERE path IN (${marks})
           UNION SELECT r.reference FROM Refs r JOIN c ON r.referrer = c.id)
         SELECT v.id, v.path, v.hash, v.deriver, v.narSize, v.sigs, v.ca
           FROM ValidPaths v JOIN c ON v.id = c.id`,
      )
      : db.prepare(
        `SELECT id, path, hash, deriver, narSize, sigs, ca FROM ValidPaths WHERE path IN (${marks})`,
      )).all(...paths) as unknown as Row[];
    const found = new Set(rows.map((r) => r.path));
    if (!paths.every((p) => found.has(p)) || rows.some((r) => r.narSize === null)) return undefined;
    const refs = new Map<number, string[]>();
    const byId = db.prepare(
      "SELECT v.path AS path FROM Refs r JOIN ValidPaths v ON v.id = r.reference WHERE r.referrer = ?",
    );
    for (const r of rows) {
      refs.set(r.id, (byId.all(r.id) as unknown as { path: string }[]).map((x) => base(x.path)));
    }
    return rows.map((r) => ({
      storePath: r.path,
      narHash: parseHash(r.hash),
      narSize: Number(r.narSize ?? 0),
      references: refs.get(r.id)!.sort(),
      deriver: r.deriver ? base(r.deriver) : undefined,
      sigs: r.sigs ? r.sigs.split(" ").filter((s) => s !== "") : [],
      ca: r.ca || undefined,
    }));
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

/**
 * `nixPathInfo` from the database where it can answer (symlinks to store
 * paths, such as `./result`, resolved first), from Nix otherwise.
 */
export async function localPathInfo(
  paths: string[],
  closure: boolean,
  storeDir = "/nix/store",
): Promise<PathMeta[]> {
  const direct: string[] = [];
  for (const p of paths) {
    const real = await Deno.realPath(p).catch(() => p);
    direct.push(real);
  }
  return await nixDbPathInfo(direct, closure, { storeDir }) ?? await nixPathInfo(paths, closure);
}

function base(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}
