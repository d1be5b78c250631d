/**
 * The server side of the Cachix push API, so that `cachix push`,
 * `cachix watch-store` and `cachix use` (client 1.x, checked against
 * cachix 1.11.1) work against Arca when pointed at it with
 * `cachix --host http://arca:5555 …`. The client puts its routes under
 * `<host>/api/v1/cache/<name>/` (servant's `API` type in cachix-api's
 * Cachix/API.hs); this is one cache, so every valid name reaches it (the
 * server sends `/api/v1/cache/<name>/` of a `[[caches]]` entry to that
 * cache's API: `cache_mounts.ts`).
 *
 * Auth is Arca's: the client's `Authorization: Bearer <CACHIX_AUTH_TOKEN>`
 * (servant-auth-client) must be an upload token to push; reads follow the
 * cache's own rule (open, or `read_token`). Part URLs carry their own key.
 * Errors are problem+json (`problem.ts`).
 *
 * Routes: `cache_routes.ts` (cache info, the "which are missing" query,
 * narinfo HEAD) and `multipart_routes.ts` (create, part URLs, parts,
 * complete, abort). Everything else under the prefix is a 404 saying so.
 */
import { MULTIPART_LIMITS, type MultipartLimits } from "../../store/multipart_uploads.ts";
import { MultipartUploads, type PartCompression } from "../../store/multipart_uploads.ts";
import type { UploadContext } from "../../store/upload_context.ts";
import { WAIT_LIMITS, WaitingPaths } from "../../store/waiting_paths.ts";
import { formatPublicKey, parsePublicKey } from "../../sign/mod.ts";
import { credentialOf, tokenMatches } from "../upload/auth.ts";
import type { AppRequest } from "../app.ts";
import type { CachixCall, CachixDeps, Permission } from "./_deps.ts";
import { getCache, narinfoBulk, narinfoHead } from "./cache_routes.ts";
import {
  abortMultipartUpload,
  completeNarUpload,
  createNar,
  putPart,
  uploadNarPart,
} from "./multipart_routes.ts";
import { problem, problemOf } from "./problem.ts";

export const CACHIX_PREFIX = "/api/v1/cache/";

export interface CachixOptions {
  ctx: UploadContext;
  /** Upload tokens; empty: pushing refused unless `anonymous`. */
  tokens: readonly string[];
  anonymous: boolean;
  /** "" for an open cache. */
  readToken: string;
  /** Public keys of Arca's own signing keys (`name:base64`). */
  ownKeys: string[];
  /** Runs after a path is published here (e.g. refresh the narinfo index); must not throw. */
  onPublish?: (storePath: string) => Promise<void>;
  limits?: Partial<MultipartLimits>;
  /** How often idle uploads and waiting paths are looked at (ms). */
  sweepMs?: number;
}

export interface CachixApi {
  /** Answers a request whose path starts with `CACHIX_PREFIX`. */
  handle(req: AppRequest, path: string): Promise<Response>;
  /** Another route published `storePath`: paths waiting for it may go now. */
  published(storePath: string): Promise<void>;
  /** Stops the sweeper and removes open uploads' parts. */
  close(): Promise<void>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SIGN_HINT = "set CACHIX_SIGNING_KEY to the secret key of one of them" +
  " (the base64 after 'name:' in a Nix secret key file)";

type Handler = (deps: CachixDeps, call: CachixCall) => Response | Promise<Response>;

/**
 * Who may call a route: readers of the cache, upload-token holders, or
 * whoever has the key in the URL (the part URLs Arca hands out: the client
 * sends no token there).
 */
type Auth = "read" | "push" | "key";

/** Routes by the segments after the cache name: [method, shape, handler, auth]. */
const ROUTES: [string, (r: string[]) => boolean, Handler, Auth][] = [
  ["GET", (r) => r.length === 0, getCache, "read"],
  ["POST", (r) => r.length === 1 && r[0] === "narinfo", narinfoBulk, "read"],
  ["HEAD", (r) => r.length === 1 && r[0].endsWith(".narinfo"), narinfoHead, "read"],
  ["POST", (r) => r.length === 1 && r[0] === "multipart-nar", createNar, "push"],
  ["POST", (r) => r.length === 2 && r[0] === "multipart-nar", uploadNarPart, "push"],
  [
    "POST",
    (r) => r.length === 3 && r[0] === "multipart-nar" && r[2] === "complete",
    completeNarUpload,
    "push",
  ],
  [
    "POST",
    (r) => r.length === 3 && r[0] === "multipart-nar" && r[2] === "abort",
    abortMultipartUpload,
    "push",
  ],
  ["PUT", (r) => r.length === 4 && r[0] === "multipart-nar" && r[2] === "part", putPart, "key"],
];

export function createCachixApi(o: CachixOptions): CachixApi {
  const { ctx } = o;
  const uploads = new MultipartUploads(ctx.layout.tmp, {
    ...MULTIPART_LIMITS,
    maxPartBytes: Math.min(MULTIPART_LIMITS.maxPartBytes, ctx.maxBytes),
    maxTotalBytes: ctx.maxBytes,
    ...o.limits,
  });
  const waiting = new WaitingPaths(ctx, WAIT_LIMITS, {
    onPublish: o.onPublish ?? (() => Promise.resolve()),
    onDrop: (p, why) => console.error(`arca: gave up waiting to publish ${p}: ${why}`),
    signHint: SIGN_HINT,
  });
  const own = o.ownKeys.map((k) => parsePublicKey(k));
  const trusted = ctx.trustedKeys.map(formatPublicKey);
  const deps: CachixDeps = {
    ctx,
    uploads,
    waiting,
    publicKeys: [...new Set([...o.ownKeys, ...trusted])],
    sigKeys: [...ctx.trustedKeys, ...own],
    preferred: (ctx.compression === "xz" ? "xz" : "zstd") as PartCompression,
    isPublic: o.readToken === "",
  };

  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    Promise.all([uploads.sweep(), waiting.sweep()])
      .catch((e) => console.error(`arca: cachix sweep failed: ${(e as Error)?.stack ?? e}`))
      .finally(() => sweeping = false);
  }, o.sweepMs ?? 30_000);
  Deno.unrefTimer(timer);

  /** The caller's permission, or the 401 to answer. */
  const permissionOf = (req: AppRequest, pushing: boolean): Permission | Response => {
    const given = credentialOf(req);
    if (o.tokens.length ? tokenMatches(given, o.tokens) : o.anonymous) return "Write";
    if (o.readToken && tokenMatches(given, [o.readToken])) return "Read";
    if (given !== undefined && (o.tokens.length || o.readToken)) {
      return unauthorized("the token is not one this cache accepts");
    }
    if (o.readToken) {
      return unauthorized(
        pushing
          ? "pushing needs an upload token (CACHIX_AUTH_TOKEN)"
          : "this cache is private: a token is needed",
      );
    }
    return "Read";
  };

  const pushRefusal = (p: Permission, req: AppRequest): Response | undefined => {
    if (p === "Write") return undefined;
    if (!o.tokens.length && !o.anonymous) {
      return problem(
        403,
        "uploads are disabled: no upload token is configured" +
          " (set upload_tokens or ARCA_UPLOAD_TOKEN, or run 'arca serve --allow-anonymous-upload')",
      );
    }
    return credentialOf(req) === undefined
      ? unauthorized("pushing needs an upload token (CACHIX_AUTH_TOKEN)")
      : problem(403, "this token may read the cache but not push to it");
  };

  return {
    async handle(req, path) {
      const what = `${req.method} ${path}`;
      try {
        const segs = path.slice(CACHIX_PREFIX.length).split("/");
        const [name, ...rest] = segs;
        if (!NAME.test(name)) {
          return problem(404, `no cache named ${JSON.stringify(name.slice(0, 60))}`);
        }
        const shaped = ROUTES.filter(([, shape]) => shape(rest));
        const route = shaped.find(([m]) => m === req.method);
        if (!route) {
          if (shaped.length) {
            const allow = shaped.map(([m]) => m).join(", ");
            return problem(405, `${req.method} is not allowed here (${allow})`, { allow });
          }
          return problem(
            404,
            `Arca does not implement ${what} of the Cachix API` +
              " (it implements pushing: see 'Cachix compatibility' in its README)",
          );
        }
        const [, , handler, auth] = route;
        let permission: Permission = "Read";
        if (auth !== "key") {
          const p = permissionOf(req, auth === "push");
          if (p instanceof Response) return p;
          const refused = auth === "push" ? pushRefusal(p, req) : undefined;
          if (refused) return refused;
          permission = p;
        }
        const url = new URL(req.url);
        return await handler(deps, {
          req,
          name,
          rest,
          query: url.searchParams,
          origin: originOf(req, url),
          permission,
        });
      } catch (e) {
        return problemOf(e, what);
      } finally {
        // Whatever was not read is dropped, so the connection can be reused or closed.
        req.body?.cancel().catch(() => {});
      }
    },
    published: (storePath) => waiting.published(storePath),
    async close() {
      clearInterval(timer);
      await uploads.close();
    },
  };
}

function unauthorized(detail: string): Response {
  return problem(401, detail, { "www-authenticate": 'Bearer realm="arca"' });
}

/**
 * Where the client reached this cache, for the URLs handed back to it: the
 * Host it sent, `X-Forwarded-Proto` when a TLS proxy is in front, and the
 * cache's path (`/team` for a `[[caches]]` entry).
 */
function originOf(req: AppRequest, url: URL): string {
  const fwd = req.headers.get("x-forwarded-proto")?.split(",")[0].trim().toLowerCase();
  const scheme = fwd === "https" || fwd === "http" ? fwd : url.protocol.slice(0, -1);
  return `${scheme}://${url.host}${req.base ?? ""}`;
}
