/**
 * The upload side of the Cachix API, what `uploadMultipart` (cachix
 * 1.11.1, Cachix/Client/Push/S3.hs) and `completeNarUpload` (Push.hs) send,
 * under `/api/v1/cache/<name>/multipart-nar`:
 *
 * | route | body → answer |
 * |---|---|
 * | `POST ?compression=xz\|zst` | → `{"narId": UUID, "uploadId": …}` |
 * | `POST /<narId>?uploadId=…&partNumber=N` | `{"contentMD5": base64}` → `{"uploadUrl": …}` |
 * | `PUT <uploadUrl>` (Arca's own: `/<narId>/part/<N>?key=…`) | part bytes, Content-MD5 → ETag header |
 * | `POST /<narId>/complete?uploadId=…` | `{"parts": […], "narInfoCreate": {…}}` → 200 |
 * | `POST /<narId>/abort?uploadId=…` | → 200 |
 *
 * Completing joins the parts into the compressed NAR file and sends it down
 * the same path as `PUT /nar/…` from `nix copy` (`uploadNar`: FileHash,
 * decompression, NAR validation, deduplicated storage), here also held to
 * the claimed NarHash and NarSize; then the path goes to `acceptUpload`
 * (trusted signature, references) through `WaitingPaths`, which holds it
 * back while references it was told are coming are still on their way.
 */
import { uploadNar } from "../../store/upload_nar.ts";
import { UploadRefused } from "../../store/upload_refused.ts";
import type { PartCompression } from "../../store/multipart_uploads.ts";
import type { CachixCall, CachixDeps } from "./_deps.ts";
import { json, noContent, readJson } from "./json.ts";
import { claimMeta, parseCompletedUpload } from "./narinfo_create.ts";

const SMALL_BODY = 64 << 10;
/** 10000 parts of ~70 bytes, the narinfo and its references. */
const COMPLETE_BODY = 4 << 20;

/** `POST multipart-nar?compression=…`: opens an upload. */
export async function createNar(deps: CachixDeps, call: CachixCall): Promise<Response> {
  const c = call.query.get("compression");
  let compression: PartCompression;
  if (c === null) compression = deps.preferred;
  else if (c === "xz") compression = "xz";
  else if (c === "zst") compression = "zstd";
  else {
    throw new UploadRefused(
      "bad-request",
      `Wrong compression method: ${c.slice(0, 40)} (the client sends xz or zst)`,
    );
  }
  return json(200, await deps.uploads.create(compression));
}

/** `POST multipart-nar/<narId>?uploadId=…&partNumber=N`: where to PUT part N. */
export async function uploadNarPart(deps: CachixDeps, call: CachixCall): Promise<Response> {
  const narId = call.rest[1];
  const uploadId = required(call, "uploadId");
  const n = partNumber(required(call, "partNumber"));
  const body = await readJson(call.req, SMALL_BODY, "part URL request");
  const md5 = (body as { contentMD5?: unknown } | null)?.contentMD5;
  if (typeof md5 !== "string") {
    throw new UploadRefused("bad-request", 'part URL request: the body must be {"contentMD5": …}');
  }
  const key = deps.uploads.grantPart(narId, uploadId, n, md5);
  const url =
    `${call.origin}/api/v1/cache/${call.name}/multipart-nar/${narId}/part/${n}?key=${key}`;
  return json(200, { uploadUrl: url });
}

/** `PUT multipart-nar/<narId>/part/<N>?key=…`: a part's bytes (the URL is the credential). */
export async function putPart(deps: CachixDeps, call: CachixCall): Promise<Response> {
  const enc = call.req.headers.get("content-encoding");
  if (enc !== null && enc.trim().toLowerCase() !== "identity") {
    throw new UploadRefused("unsupported", "a part is stored as sent: no Content-Encoding");
  }
  const len = call.req.headers.get("content-length");
  const etag = await deps.uploads.putPart(
    call.rest[1],
    partNumber(call.rest[3]),
    call.query.get("key") ?? "",
    call.req.headers.get("content-md5"),
    len === null ? undefined : Number(len),
    call.req.body ?? new ReadableStream({ start: (c) => c.close() }),
  );
  return new Response(null, { status: 200, headers: { etag, "cache-control": "no-store" } });
}

/** `POST multipart-nar/<narId>/complete?uploadId=…`: verify, store and publish. */
export async function completeNarUpload(deps: CachixDeps, call: CachixCall): Promise<Response> {
  const { ctx, uploads } = deps;
  const narId = call.rest[1];
  const uploadId = required(call, "uploadId");
  const body = await readJson(call.req, COMPLETE_BODY, "completion");
  const { parts, claim } = parseCompletedUpload(body, ctx.storeDir);
  if (await ctx.store.getNarinfo(claim.hashPart)) {
    // Cached already (pushed twice at once, say): nothing to store.
    await uploads.abort(narId, uploadId);
    return noContent();
  }
  const joined = uploads.complete(narId, uploadId, parts, claim.fileSize);
  try {
    const ext = joined.compression === "xz" ? "xz" : "zst";
    await uploadNar(ctx, `${claim.fileHash32}.nar.${ext}`, joined.file, null, {
      narHash: claim.narHash,
      narSize: claim.narSize,
      what: claim.storePath,
      source: "narInfoCreate claims",
    });
  } finally {
    await joined.file.cancel().catch(() => {});
    await uploads.remove(narId);
  }
  const status = await deps.waiting.offer(claimMeta(claim, deps.sigKeys, ctx.storeDir));
  if (status === "waiting") {
    console.error(`arca: ${claim.storePath} is stored; it waits for its references to be pushed`);
  }
  return noContent();
}

/** `POST multipart-nar/<narId>/abort?uploadId=…`: drop the parts. */
export async function abortMultipartUpload(
  deps: CachixDeps,
  call: CachixCall,
): Promise<Response> {
  await deps.uploads.abort(call.rest[1], required(call, "uploadId"));
  return noContent();
}

function required(call: CachixCall, name: string): string {
  const v = call.query.get(name);
  if (v === null) throw new UploadRefused("bad-request", `missing the query parameter ${name}`);
  return v;
}

function partNumber(s: string): number {
  if (!/^\d{1,9}$/.test(s)) {
    throw new UploadRefused(
      "bad-request",
      `partNumber ${JSON.stringify(s.slice(0, 20))} is not a number`,
    );
  }
  return Number(s);
}
