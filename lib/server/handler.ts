/**
 * The substituter: `Request -> Response`, testable without a socket.
 *
 * | route | answer |
 * |---|---|
 * | `GET/HEAD /nix-cache-info` | store dir, mass query, priority |
 * | `GET/HEAD /<hash32>.narinfo` | from the in-memory index; a miss is a plain 404 |
 * | `GET/HEAD /nar/<fileHash32>.nar[.zst|.xz]` | the NAR file, with Range, ETag, 304 |
 * | `GET /log/<drv>` | a stored build log |
 * | `GET /health` | JSON |
 *
 * Only names that match these shapes reach the store; everything else is a
 * 404, so no path from the URL is ever used on the filesystem unchecked.
 */
import { contentTypeOf } from "../compress/mod.ts";
import { formatCacheInfo } from "../narinfo/mod.ts";
import { isValidHashPart } from "../store_path/mod.ts";
import { parseNarFileName } from "../store/nar_file_name.ts";
import type { NarBody, Store } from "../store/store.ts";
import type { AuditEvent } from "../kv/records.ts";
import type { NarinfoIndex } from "./narinfo_index.ts";
import { parseRange } from "./http_range.ts";
import { VERSION } from "../version.ts";

export interface HandlerDeps {
  store: Store;
  index: NarinfoIndex;
  storeDir: string;
  priority: number;
  logsDir: string;
  /** Called on every narinfo hit (gc's last-access times); must be cheap and never throw. */
  onAccess?: (hashPart: string) => void;
  /** Handles PUT requests (uploads); without it they get 405. */
  upload?: (req: Request, path: string) => Promise<Response>;
  /** Receives `Serve` events; the caller batches them into the audit log. */
  onServe?: (ev: AuditEvent) => void;
}

/** NARs up to this size are read and checked whole before the 200 starts. */
const VERIFY_FIRST = 8 << 20;
const LOG_NAME = /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]{1,211}\.drv$/;

export function createHandler(deps: HandlerDeps): (req: Request) => Promise<Response> {
  const cacheInfo = new TextEncoder().encode(
    formatCacheInfo({ storeDir: deps.storeDir, wantMassQuery: true, priority: deps.priority }),
  );
  const started = Date.now();

  return async (req: Request): Promise<Response> => {
    const method = req.method;
    if (method === "PUT" && deps.upload) return await deps.upload(req, pathOf(req.url));
    if (method !== "GET" && method !== "HEAD") {
      return new Response("method not allowed\n", {
        status: 405,
        headers: { allow: "GET, HEAD", "cache-control": "no-store" },
      });
    }
    const path = pathOf(req.url);
    const head = method === "HEAD";

    if (path.endsWith(".narinfo") && path.length === 41) {
      const hashPart = path.slice(1, 33);
      if (!isValidHashPart(hashPart)) return notFound();
      const bytes = await deps.index.get(hashPart);
      if (!bytes) return notFound();
      deps.onAccess?.(hashPart);
      return new Response(head ? null : bytes, {
        headers: {
          "content-type": "text/x-nix-narinfo",
          "content-length": String(bytes.length),
          "cache-control": "public, max-age=60",
        },
      });
    }
    if (path.startsWith("/nar/")) return await serveNar(deps, req, path.slice(5), head);
    if (path === "/nix-cache-info") {
      return new Response(head ? null : cacheInfo, {
        headers: {
          "content-type": "text/x-nix-cache-info",
          "content-length": String(cacheInfo.length),
          "cache-control": "public, max-age=300",
        },
      });
    }
    if (path.startsWith("/log/")) return await serveLog(deps, path.slice(5), head);
    if (path === "/health") {
      const body = JSON.stringify({
        status: "ok",
        version: VERSION,
        backend: deps.store.backend,
        paths: deps.index.size,
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
      });
      return new Response(head ? null : body, {
        headers: { "content-type": "application/json", "cache-control": "no-store" },
      });
    }
    return notFound();
  };
}

async function serveNar(
  deps: HandlerDeps,
  req: Request,
  name: string,
  head: boolean,
): Promise<Response> {
  const parsed = parseNarFileName(name);
  if (!parsed) return notFound();
  const body = await deps.store.openNar(name);
  if (!body) {
    // openNar may just have taken damaged paths out of service: let the index
    // drop their narinfos before answering, so the next narinfo GET is a 404 too.
    await deps.index.refresh();
    return notFound();
  }
  const etag = `"${parsed.fileHash32}"`;
  const common: Record<string, string> = {
    "content-type": contentTypeOf(body.compression),
    "accept-ranges": "bytes",
    etag,
    "cache-control": "public, max-age=31536000, immutable",
  };
  const inm = req.headers.get("if-none-match");
  if (inm && inm.split(",").some((t) => t.trim() === etag || t.trim() === "*")) {
    return new Response(null, { status: 304, headers: common });
  }
  const range = parseRange(req.headers.get("range"), body.size);
  if (range.kind === "unsatisfiable") {
    return new Response(null, {
      status: 416,
      headers: { ...common, "content-range": `bytes */${body.size}`, "cache-control": "no-store" },
    });
  }
  const [start, end] = range.kind === "partial" ? [range.start, range.end] : [0, body.size];
  const headers: Record<string, string> = { ...common, "content-length": String(end - start) };
  const status = range.kind === "partial" ? 206 : 200;
  if (status === 206) headers["content-range"] = `bytes ${start}-${end - 1}/${body.size}`;
  if (head) return new Response(null, { status, headers });

  deps.onServe?.({ type: "Serve", time: Date.now(), nar: name, bytes: end - start });
  if (end - start <= VERIFY_FIRST) {
    // Small enough to read and check before answering: damage becomes a 404, not a short 200.
    const bytes = await readAll(body, start, end);
    if (!bytes) return notFound();
    return new Response(bytes, { status, headers });
  }
  return new Response(body.stream(start, end), { status, headers });
}

async function readAll(
  body: NarBody,
  start: number,
  end: number,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const out = new Uint8Array(end - start);
  let o = 0;
  try {
    for await (const piece of body.stream(start, end)) {
      out.set(piece, o);
      o += piece.length;
    }
  } catch {
    return undefined;
  }
  return o === out.length ? out : undefined;
}

async function serveLog(deps: HandlerDeps, name: string, head: boolean): Promise<Response> {
  if (!LOG_NAME.test(name)) return notFound();
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(`${deps.logsDir}/${name}`);
  } catch {
    return notFound();
  }
  return new Response(head ? null : bytes, {
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(bytes.length),
      "cache-control": "public, max-age=300",
    },
  });
}

function pathOf(url: string): string {
  // Cheaper than new URL() on the hot path: skip scheme and authority.
  const s = url.indexOf("/", url.indexOf("//") + 2);
  if (s < 0) return "/";
  const q = url.indexOf("?", s);
  return q < 0 ? url.slice(s) : url.slice(s, q);
}

function notFound(): Response {
  return new Response("not found\n", {
    status: 404,
    headers: { "content-type": "text/plain", "cache-control": "no-store" },
  });
}
