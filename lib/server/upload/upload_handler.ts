/**
 * `PUT` routes, what `nix copy --to http://…` and `nix store copy-log` send:
 *
 * | route | effect |
 * |---|---|
 * | `PUT /nar/<fileHash>.nar[.xz\|.zst\|.bz2\|.br]` | stored deduplicated, unpublished |
 * | `PUT /<hash>.narinfo` | checked, then published (signed when `sign_uploads`) |
 * | `PUT /<hash>.ls` | NAR listing (`write-nar-listing=1`) |
 * | `PUT /log/<drv>` | build log |
 * | `PUT /realisations/…doi`, `/build-trace-v2/…doi` | CA realisations |
 * | `PUT /nix-cache-info` | accepted and ignored: Arca writes its own |
 * | `PUT`, `DELETE /gcroots/<name>` | a named gc root (`gcroots_route.ts`) |
 *
 * Every request needs an upload token (see `auth.ts`) before its body is
 * read, so a refused request stores nothing.
 */
import { isValidHashPart } from "../../store_path/mod.ts";
import type { UploadContext } from "../../store/upload_context.ts";
import { uploadNar } from "../../store/upload_nar.ts";
import { uploadNarinfo } from "../../store/upload_narinfo.ts";
import {
  isLogName,
  isRealisationName,
  putListing,
  putLog,
  putRealisation,
} from "../../store/upload_files.ts";
import { type RefusalKind, UploadRefused } from "../../store/upload_refused.ts";
import { credentialOf, tokenMatches, unauthorized } from "./auth.ts";
import { readBody } from "./read_body.ts";
import type { AppRequest } from "../app.ts";
import { gcRootsRoute } from "./gcroots_route.ts";
import { refusalResponse, textResponse } from "./refusal.ts";

export interface UploadOptions {
  ctx: UploadContext;
  /** Accepted upload tokens; empty: uploads refused unless `anonymous`. */
  tokens: readonly string[];
  /** Uploads without a token, allowed only when no token is configured. */
  anonymous: boolean;
  /** Runs after a path is published (e.g. refresh the narinfo index); must not throw. */
  onPublish?: (storePath: string) => Promise<void>;
  /** Told how each request ended (for /metrics); must be cheap and never throw. */
  onOutcome?: (outcome: UploadOutcome) => void;
}

/**
 * What became of one upload request: `accepted` with what was stored, or
 * `refused` with why (a refusal kind, `unauthorized` for a missing or wrong
 * token, `disabled` when no token is configured, `internal` for Arca's own
 * failure).
 */
export type UploadOutcome =
  | {
    accepted:
      | "nar"
      | "narinfo"
      | "exists"
      | "listing"
      | "log"
      | "realisation"
      | "gcroot"
      | "ignored";
  }
  | { refused: RefusalKind | "unauthorized" | "disabled" | "internal" };

const NARINFO_MAX = 1 << 20;
const FILE_MAX = 256 << 20;

/** Answers `PUT` (and `DELETE /gcroots/<name>`) requests once their token is checked. */
export function createUploadHandler(
  opts: UploadOptions,
): (req: AppRequest, path: string) => Promise<Response> {
  const { ctx } = opts;
  const tell = opts.onOutcome ?? (() => {});
  return async (req, path) => {
    const what = `${req.method} ${path}`;
    if (opts.tokens.length === 0 && !opts.anonymous) {
      tell({ refused: "disabled" });
      return textResponse(
        403,
        "uploads are disabled: no upload token is configured" +
          " (set upload_tokens or ARCA_UPLOAD_TOKEN, or run 'arca serve --allow-anonymous-upload')",
      );
    }
    if (opts.tokens.length > 0) {
      const given = credentialOf(req);
      if (given === undefined || !tokenMatches(given, opts.tokens)) {
        tell({ refused: "unauthorized" });
        return unauthorized(
          given === undefined
            ? "uploading needs a token (HTTP Basic password)"
            : "wrong upload token",
        );
      }
    }
    const length = Number(req.headers.get("content-length") ?? "0");
    if (length > ctx.maxBytes) {
      tell({ refused: "too-large" });
      return refusalResponse(
        new UploadRefused(
          "too-large",
          `${path}: ${length} bytes is over the limit of ${ctx.maxBytes}`,
        ),
        what,
      );
    }
    try {
      if (path.startsWith("/gcroots/")) {
        const res = await gcRootsRoute(ctx, req, path);
        tell(res.ok ? { accepted: "gcroot" } : { refused: "bad-request" });
        return res;
      }
      if (req.method !== "PUT") {
        tell({ refused: "bad-request" });
        return new Response("method not allowed\n", {
          status: 405,
          headers: { allow: "GET, HEAD, PUT", "cache-control": "no-store" },
        });
      }
      const [res, accepted] = await route(opts, req, path);
      tell({ accepted });
      return res;
    } catch (e) {
      tell({ refused: e instanceof UploadRefused ? e.kind : "internal" });
      return refusalResponse(e, what);
    } finally {
      // Whatever was not read is dropped, so the connection can be reused or closed.
      req.body?.cancel().catch(() => {});
    }
  };
}

type Accepted = Extract<UploadOutcome, { accepted: string }>["accepted"];

async function route(
  opts: UploadOptions,
  req: AppRequest,
  path: string,
): Promise<[Response, Accepted]> {
  const { ctx } = opts;
  const small = (max: number) => readBody(req, Math.min(max, ctx.maxBytes), path.slice(1));
  if (path.startsWith("/nar/")) {
    const stored = await uploadNar(
      ctx,
      path.slice(5),
      req.body ?? new ReadableStream({ start: (c) => c.close() }),
      req.headers.get("content-encoding"),
    );
    return [
      textResponse(200, `stored NAR ${stored.narSize} bytes, ${stored.storedBytes} new`),
      "nar",
    ];
  }
  if (path.length === 41 && path.endsWith(".narinfo") && isValidHashPart(path.slice(1, 33))) {
    const text = new TextDecoder().decode(await small(NARINFO_MAX));
    const r = await uploadNarinfo(ctx, path.slice(1, 33), text);
    if (r.status === "imported") await opts.onPublish?.(r.narinfo.storePath);
    return r.status === "imported"
      ? [textResponse(200, "published"), "narinfo"]
      : [textResponse(200, "already cached"), "exists"];
  }
  if (path.length === 36 && path.endsWith(".ls") && isValidHashPart(path.slice(1, 33))) {
    await putListing(ctx, path.slice(1, 33), await small(FILE_MAX));
    return [textResponse(200, "stored listing"), "listing"];
  }
  if (path.startsWith("/log/")) {
    const drv = path.slice(5);
    if (!isLogName(drv)) {
      throw new UploadRefused("bad-request", `${path}: not a derivation name (<hash>-<name>.drv)`);
    }
    await putLog(ctx, drv, await small(FILE_MAX));
    return [textResponse(200, "stored log"), "log"];
  }
  if (path === "/nix-cache-info") {
    await small(64 << 10);
    return [textResponse(200, "ignored: Arca serves its own nix-cache-info"), "ignored"];
  }
  if (path.startsWith("/realisations/") || path.startsWith("/build-trace-v2/")) {
    const rel = decodePath(path);
    if (!isRealisationName(rel)) {
      throw new UploadRefused("bad-request", `${path}: not a realisation name`);
    }
    await putRealisation(ctx, rel, await small(NARINFO_MAX));
    return [textResponse(200, "stored realisation"), "realisation"];
  }
  throw new UploadRefused("not-found", `${path}: not something a binary cache stores`);
}

/** `/realisations/sha256%3A…%21out.doi` → `realisations/sha256:…!out.doi`. */
export function decodePath(path: string): string {
  try {
    return decodeURIComponent(path.slice(1));
  } catch {
    return path.slice(1);
  }
}
