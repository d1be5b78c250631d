/**
 * The read side of uploads, wrapped around the substituter's handler:
 *
 * - a private cache (`read_token`): every GET/HEAD needs the read token or an
 *   upload token, else 401. Hits and misses look the same without it, so
 *   nothing about the cache's content leaks;
 * - `HEAD /nar/<name>` for a name Arca never serves but a client uploaded
 *   answers 200 while that NAR's content is stored (Nix then skips the upload);
 * - `GET/HEAD /<hash>.ls` and the realisation files uploaded next to NARs;
 * - `DELETE /gcroots/<name>` goes to the upload handler, which checks the
 *   upload token (other `DELETE`s reach `inner`: 405).
 *
 * Everything else goes to the inner handler unchanged.
 */
import { isValidHashPart } from "../../store_path/mod.ts";
import type { UploadContext } from "../../store/upload_context.ts";
import { hasUploadedNar } from "../../store/upload_nar.ts";
import { readListing, readRealisation } from "../../store/upload_files.ts";
import { credentialOf, tokenMatches, unauthorized } from "./auth.ts";
import { decodePath } from "./upload_handler.ts";
import type { AppHandler, AppRequest, AppResponse } from "../app.ts";

export interface UploadReadsOptions {
  ctx: UploadContext;
  /** "" for an open cache. */
  readToken: string;
  /** Upload tokens also grant reads (nix copy reads narinfos first). */
  uploadTokens: readonly string[];
  /** Where `DELETE /gcroots/…` goes (the upload handler); without it, `inner`. */
  upload?: (req: AppRequest, path: string) => Promise<Response>;
}

export function withUploadReads(
  inner: AppHandler,
  opts: UploadReadsOptions,
): AppHandler {
  const readers = opts.readToken ? [opts.readToken, ...opts.uploadTokens] : [];
  // Not async: requests this adds nothing to (the narinfo hot path) go straight through.
  return (req) => {
    const method = req.method;
    if (method === "DELETE" && opts.upload) {
      const path = pathOf(req.url);
      if (path.startsWith("/gcroots/")) return opts.upload(req, path);
    }
    if (method !== "GET" && method !== "HEAD") return inner(req);
    if (readers.length && !tokenMatches(credentialOf(req), readers)) {
      return unauthorized("this cache is private: a read token is needed");
    }
    const path = pathOf(req.url);
    const head = method === "HEAD";
    if (path.length === 36 && path.endsWith(".ls") && isValidHashPart(path.slice(1, 33))) {
      return readListing(opts.ctx, path.slice(1, 33)).then((b) => file(b, head), unreadable(path));
    }
    if (path.startsWith("/realisations/") || path.startsWith("/build-trace-v2/")) {
      return readRealisation(opts.ctx, decodePath(path)).then(
        (b) => file(b, head),
        unreadable(path),
      );
    }
    if (head && path.startsWith("/nar/")) return headNar(inner, req, opts.ctx, path.slice(5));
    return inner(req);
  };
}

/** Arca's own NAR first; else 200 if a client uploaded this name and its content is kept. */
async function headNar(
  inner: AppHandler,
  req: AppRequest,
  ctx: UploadContext,
  name: string,
): Promise<AppResponse> {
  const res = await inner(req);
  if (res.status !== 404 || !(await hasUploadedNar(ctx, name))) return res;
  return new Response(null, { status: 200, headers: { "cache-control": "no-store" } });
}

/** A storage that cannot be read now (a bucket down): a log line, and a 404 as for a miss. */
function unreadable(path: string) {
  return (e: unknown): Response => {
    console.error(`arca: ${path.slice(1)}: cannot be read now: ${(e as Error).message}`);
    return file(undefined, false);
  };
}

function file(bytes: Uint8Array<ArrayBuffer> | undefined, head: boolean): Response {
  if (!bytes) {
    return new Response("not found\n", {
      status: 404,
      headers: { "content-type": "text/plain", "cache-control": "no-store" },
    });
  }
  return new Response(head ? null : bytes, {
    headers: { "content-type": "application/json", "content-length": String(bytes.length) },
  });
}

function pathOf(url: string): string {
  // As the substituter does it: skip scheme and authority, drop the query.
  const s = url.indexOf("/", url.indexOf("//") + 2);
  if (s < 0) return "/";
  const q = url.indexOf("?", s);
  return q < 0 ? url.slice(s) : url.slice(s, q);
}
