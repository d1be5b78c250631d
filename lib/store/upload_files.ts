/**
 * The small files `nix copy` and `nix store copy-log` upload next to NARs,
 * kept as plain files under the cache directory (written atomically):
 *
 * ```
 * <cache>/logs/<drv>                          PUT/GET log/<drv>
 * <cache>/listings/<hash>.ls                  PUT/GET <hash>.ls (write-nar-listing=1)
 * <cache>/realisations/<sha256:…>!<out>.doi   CA derivations (Nix <= 2.34)
 * <cache>/build-trace-v2/<drv>/<out>.doi      CA derivations (Nix >= 2.35)
 * ```
 *
 * With a filesystem backend on S3 (`Store.sideFiles`) logs and listings are
 * objects of the bucket instead: `log/<drv>` and `<hash>.ls`, as in the flat
 * layout `nix copy --to file://` writes.
 *
 * Names are checked against strict patterns before any filesystem call, so
 * no URL can reach outside these folders. A listing is served only once its
 * path is published: an abandoned upload stays invisible.
 */
import { writeFileAtomic } from "../blob/atomic_file.ts";
import type { UploadContext } from "./upload_context.ts";
import type { Store } from "./store.ts";
import { UploadRefused } from "./upload_refused.ts";
import { bucketListingName, bucketLogName, localListingName } from "./side_file_names.ts";

const NAME = "[A-Za-z0-9+\\-._?=]{1,211}";
const DRV = `[0-9a-df-np-sv-z]{32}-${NAME}\\.drv`;
const LOG = new RegExp(`^${DRV}$`);
const REALISATION = new RegExp(
  `^(?:realisations/sha256:[0-9a-f]{64}!${NAME}\\.doi|build-trace-v2/${DRV}/${NAME}\\.doi)$`,
);

/** Whether `name` (after `log/`) is a derivation's basename. */
export function isLogName(name: string): boolean {
  return LOG.test(name);
}

/** Whether `rel` (no leading slash, percent-decoded) is a realisation file name. */
export function isRealisationName(rel: string): boolean {
  return REALISATION.test(rel) && !rel.includes("/../") && !rel.includes("/./");
}

/** Stores a build log (plain text, as `GET /log/<drv>` serves it). */
export async function putLog(ctx: UploadContext, drv: string, text: Uint8Array): Promise<void> {
  if (!isLogName(drv)) {
    throw new UploadRefused("bad-request", `log/${drv}: not a derivation name (<hash>-<name>.drv)`);
  }
  await writeLog(ctx.store, ctx.layout, drv, text);
}

/**
 * Stores a build log (`drv` already checked): in the bucket of a filesystem
 * backend on S3, else under the cache's `logs/`. Uploads and the post-build
 * hook both write through here.
 */
export async function writeLog(
  store: Store,
  layout: { logs: string; tmp: string },
  drv: string,
  text: Uint8Array,
): Promise<void> {
  if (store.sideFiles) await store.sideFiles.writeText(bucketLogName(drv), text);
  else await writeFileAtomic(layout.tmp, `${layout.logs}/${drv}`, text);
}

/** A stored build log (`drv` already checked by the caller), or undefined. */
export function readLog(
  store: Store,
  logsDir: string,
  drv: string,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  return store.sideFiles
    ? store.sideFiles.readBytes(bucketLogName(drv))
    : readOrUndefined(`${logsDir}/${drv}`);
}

/** Stores a NAR listing after checking it is the JSON Nix writes (`{"version":1,…}`). */
export async function putListing(
  ctx: UploadContext,
  hashPart: string,
  text: Uint8Array,
): Promise<void> {
  const doc = parseJson(text, `${hashPart}.ls`);
  if (doc?.version !== 1 || typeof doc.root !== "object") {
    throw new UploadRefused(
      "bad-request",
      `${hashPart}.ls: not a NAR listing ({"version":1,"root":…})`,
    );
  }
  const side = ctx.store.sideFiles;
  if (side) return await side.writeText(bucketListingName(hashPart), text);
  const path = `${ctx.layout.root}/${localListingName(hashPart)}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await writeFileAtomic(ctx.layout.tmp, path, text);
}

/** A stored listing of a published path, or undefined. */
export async function readListing(
  ctx: UploadContext,
  hashPart: string,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (!(await ctx.store.getNarinfo(hashPart))) return undefined;
  const side = ctx.store.sideFiles;
  if (side) return await side.readBytes(bucketListingName(hashPart));
  return await readOrUndefined(`${ctx.layout.root}/${localListingName(hashPart)}`);
}

/** Stores a realisation (JSON) under its name. */
export async function putRealisation(
  ctx: UploadContext,
  rel: string,
  text: Uint8Array,
): Promise<void> {
  if (!isRealisationName(rel)) {
    throw new UploadRefused("bad-request", `${rel}: not a realisation name`);
  }
  if (typeof parseJson(text, rel) !== "object") {
    throw new UploadRefused("bad-request", `${rel}: not a JSON object`);
  }
  const path = `${ctx.layout.root}/${rel}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await writeFileAtomic(ctx.layout.tmp, path, text);
}

/** A stored realisation, or undefined. */
export function readRealisation(
  ctx: UploadContext,
  rel: string,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (!isRealisationName(rel)) return Promise.resolve(undefined);
  return readOrUndefined(`${ctx.layout.root}/${rel}`);
}

/** The text of `bytes` as JSON, or a refusal naming `what`. */
// deno-lint-ignore no-explicit-any
function parseJson(bytes: Uint8Array, what: string): any {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new UploadRefused("bad-request", `${what}: not JSON: ${(e as Error).message}`);
  }
}

async function readOrUndefined(path: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  try {
    return await Deno.readFile(path);
  } catch {
    return undefined;
  }
}
