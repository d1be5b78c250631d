/**
 * What `nix path-info --json`, `nix-store -q --outputs` and `nix-store
 * --read-log` say, read from the local Nix's own SQLite database
 * (`/nix/var/nix/db/db.sqlite`, read-only) and log directory instead: the
 * post-build hook runs after every build, and each Nix started for a
 * question cost ~15-20 ms of what it added to a build (Nix 2.8.0 gives the
 * hook an empty OUT_PATHS, so it asked three times). Only where that database is this
 * store's and readable (root, or single-user Nix): with `NIX_REMOTE`,
 * `NIX_STATE_DIR` or `NIX_STORE_DIR` set, a store elsewhere, a database that
 * cannot be opened or read, or a path it does not hold, the answer is
 * undefined and the caller asks Nix. The tables are the ones Nix has kept
 * since schema 7 (ValidPaths, Refs); the NarHash is a claim here as there,
 * checked against the bytes at import.
 */
import { parseHash } from "../hash/mod.ts";
import { concatBytes } from "../encoding/concat_bytes.ts";
import type { PathMeta } from "../narinfo/path_meta.ts";
import { nixPathInfo } from "./nix_path_info.ts";

const DB = "/nix/var/nix/db/db.sqlite";
const LOGS = "/nix/var/log/nix/drvs";
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

/** Whether this process may read Nix's state here directly (see the module comment). */
function localNix(storeDir = "/nix/store"): boolean {
  const env = Deno.env.toObject();
  if (env.NIX_REMOTE || env.NIX_STATE_DIR || env.NIX_STORE_DIR || env.NIX_LOG_DIR) return false;
  return storeDir === "/nix/store";
}

async function openDb(path = DB): Promise<import("node:sqlite").DatabaseSync | undefined> {
  try {
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(path, { readOnly: true });
    db.exec("PRAGMA busy_timeout = 2000");
    return db;
  } catch {
    return undefined;
  }
}

/**
 * The outputs of derivation `drv` that are valid paths (what the hook needs
 * when Nix 2.8.0 passes it an empty OUT_PATHS), or undefined: ask Nix.
 */
export async function nixDbValidOutputs(
  drv: string,
  storeDir?: string,
): Promise<string[] | undefined> {
  if (!localNix(storeDir)) return undefined;
  const db = await openDb();
  if (!db) return undefined;
  try {
    const known = db.prepare("SELECT 1 FROM ValidPaths WHERE path = ?").get(drv);
    if (!known) return undefined;
    const rows = db.prepare(
      `SELECT o.path AS path FROM DerivationOutputs o JOIN ValidPaths d ON o.drv = d.id
         WHERE d.path = ? AND o.path IN (SELECT path FROM ValidPaths)`,
    ).all(drv) as unknown as { path: string }[];
    return rows.map((r) => r.path);
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

/**
 * The build log Nix kept for `drv` (`nix-store --read-log`), read from its
 * log directory (bzip2-compressed or not): empty when there is none,
 * undefined when this process cannot tell (then ask Nix).
 */
export async function nixBuildLog(drv: string, storeDir?: string): Promise<Uint8Array | undefined> {
  if (!localNix(storeDir)) return undefined;
  const b = drv.slice(drv.lastIndexOf("/") + 1);
  const at = `${LOGS}/${b.slice(0, 2)}/${b.slice(2)}`;
  const plain = await Deno.readFile(at).catch(() => undefined);
  if (plain) return plain;
  const packed = await Deno.readFile(`${at}.bz2`).catch(() => undefined);
  if (!packed) {
    // No log for it (none was kept, or it printed nothing), if Nix keeps logs here at all.
    return await Deno.stat(LOGS).then((s) => s.isDirectory, () => false)
      ? new Uint8Array()
      : undefined;
  }
  const { Bzip2Decoder } = await import("../compress/_bzip2.ts");
  const parts: Uint8Array[] = [];
  const d = new Bzip2Decoder();
  try {
    d.push(packed, (p) => parts.push(p.slice()));
    d.finish((p) => parts.push(p.slice()));
  } catch {
    return undefined;
  }
  return concatBytes(parts);
}

/** Path info of `paths` (store paths themselves), with their closure when `closure`. */
export async function nixDbPathInfo(
  paths: string[],
  closure: boolean,
  opts: { db?: string; storeDir?: string } = {},
): Promise<PathMeta[] | undefined> {
  if (!localNix(opts.storeDir)) return undefined;
  if (paths.length === 0 || !paths.every((p) => p.startsWith(STORE) && !p.includes("/", 11))) {
    return undefined;
  }
  const db = await openDb(opts.db);
  if (!db) return undefined;
  try {
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
