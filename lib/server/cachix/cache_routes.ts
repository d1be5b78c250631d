/**
 * The read side of the Cachix API that `cachix push` and `cachix use` call
 * first (routes as `BinaryCacheAPI` in cachix-api 1.11.1, Cachix/API.hs,
 * all under `/api/v1`):
 *
 * | route | answer |
 * |---|---|
 * | `GET cache/<name>` | `BinaryCache` (Cachix/Types/BinaryCache.hs): uri, keys, compression |
 * | `POST cache/<name>/narinfo` `["<hash>", …]` | the hashes of those not cached |
 * | `HEAD cache/<name>/<hash>.narinfo` | 200 cached, 404 not |
 *
 * A hash an upload-token holder is told is missing counts as announced: a
 * path that needs it may wait for it (`WaitingPaths`).
 */
import { isValidHashPart } from "../../store_path/mod.ts";
import { UploadRefused } from "../../store/upload_refused.ts";
import type { CachixCall, CachixDeps } from "./_deps.ts";
import { json, readJson } from "./json.ts";

/** The client sends at most 32768 hashes per query (`queryNarInfoBulk`). */
const BULK_MAX_BYTES = 4 << 20;
const BULK_MAX_HASHES = 100_000;

/** `GET /api/v1/cache/<name>`: what the client needs to push to, and to use, the cache. */
export function getCache(deps: CachixDeps, call: CachixCall): Response {
  return json(200, {
    name: call.name,
    uri: call.origin,
    isPublic: deps.isPublic,
    publicSigningKeys: deps.publicKeys,
    githubUsername: "",
    permission: call.permission,
    preferredCompressionMethod: deps.preferred === "xz" ? "XZ" : "ZSTD",
  });
}

/** `POST /api/v1/cache/<name>/narinfo`: which of these store hashes are missing. */
export async function narinfoBulk(deps: CachixDeps, call: CachixCall): Promise<Response> {
  const v = await readJson(call.req, BULK_MAX_BYTES, "narinfo query");
  if (!Array.isArray(v)) {
    throw new UploadRefused(
      "bad-request",
      "narinfo query: the body must be a list of store hashes",
    );
  }
  if (v.length > BULK_MAX_HASHES) {
    throw new UploadRefused(
      "too-large",
      `narinfo query: ${v.length} hashes, more than the ${BULK_MAX_HASHES} one query may ask about`,
    );
  }
  for (const [i, h] of v.entries()) {
    if (typeof h !== "string" || !isValidHashPart(h)) {
      throw new UploadRefused(
        "bad-request",
        `narinfo query: item ${i} (${JSON.stringify(h)?.slice(0, 60)}) is not a store path hash`,
      );
    }
  }
  const hashes = v as string[];
  const missing: string[] = [];
  // KV reads a few at a time: a query names up to tens of thousands of paths.
  for (let i = 0; i < hashes.length; i += 64) {
    const batch = hashes.slice(i, i + 64);
    const found = await Promise.all(batch.map((h) => deps.ctx.store.getNarinfo(h)));
    for (const [j, f] of found.entries()) if (!f) missing.push(batch[j]);
  }
  if (call.permission === "Write") deps.waiting.announce(missing);
  return json(200, missing);
}

/** `HEAD /api/v1/cache/<name>/<hash>.narinfo`: is the path cached. */
export async function narinfoHead(deps: CachixDeps, call: CachixCall): Promise<Response> {
  const hashPart = call.rest[0].slice(0, -".narinfo".length);
  const cached = isValidHashPart(hashPart) && (await deps.ctx.store.getNarinfo(hashPart));
  if (!cached && isValidHashPart(hashPart) && call.permission === "Write") {
    deps.waiting.announce([hashPart]);
  }
  return new Response(null, {
    status: cached ? 200 : 404,
    headers: { "cache-control": "no-store" },
  });
}
