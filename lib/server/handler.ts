/**
 * The substituter: `AppRequest -> AppResponse`, testable without a socket.
 *
 * | route | answer |
 * |---|---|
 * | `GET/HEAD /nix-cache-info` | store dir, mass query, priority |
 * | `GET/HEAD /<hash32>.narinfo` | from the in-memory index; a miss is a plain 404 |
 * | `GET/HEAD /nar/<fileHash32>.nar[.zst|.xz]` | the NAR file, with Range, ETag, 304 |
 * | `GET /peer/<hash32>/<NarHash32>.nar` | a NAR known from swarm peers, streamed from them |
 * | `GET /log/<drv>` | a stored build log |
 * | `GET /health` | JSON |
 *
 * Only names that match these shapes reach the store; everything else is a
 * 404, so no path from the URL is ever used on the filesystem unchecked.
 */
import { contentTypeOf } from "../compress/compression.ts";
import { formatCacheInfo } from "../narinfo/mod.ts";
import { isValidHashPart } from "../store_path/mod.ts";
import { parseNarFileName } from "../store/nar_file_name.ts";
import type { Store } from "../store/store.ts";
import type { AuditEvent } from "../kv/records.ts";
import type { NarinfoIndex } from "./narinfo_index.ts";
import { parseRange } from "./http_range.ts";
import { VERSION } from "../version.ts";
import { NARINFO_FIELDS, NOT_FOUND_BODY, NOT_FOUND_FIELDS } from "./quick_route.ts";
import { type AppHandler, type AppRequest, type AppResponse, reply } from "./app.ts";
import type { FileBody } from "../blob/file_body.ts";
import type { NarTable } from "./nar_table.ts";
import { readLog } from "../store/upload_files.ts";

export interface HandlerDeps {
  store: Store;
  index: NarinfoIndex;
  storeDir: string;
  priority: number;
  logsDir: string;
  /** Called on every narinfo hit (gc's last-access times); must be cheap and never throw. */
  onAccess?: (hashPart: string) => void;
  /** Handles PUT requests (uploads); without it they get 405. */
  upload?: (req: AppRequest, path: string) => Promise<Response>;
  /** Receives `Serve` events; the caller batches them into the audit log. */
  onServe?: (ev: AuditEvent) => void;
  /** Where NAR files served from local packs are shared with the HTTP front (nar_table.ts). */
  nars?: NarTable;
  /**
   * NARs of paths known only from swarm peers (`swarm --also-serve`): a
   * stream of the plain NAR once its first verified bytes are here, or
   * undefined when no peer can start it.
   */
  peerNar?: (
    hashPart: string,
    narHash32: string,
  ) => Promise<{ size: number; body: ReadableStream<Uint8Array> } | undefined>;
}

const PEER_NAR = /^\/peer\/([0-9a-df-np-sv-z]{32})\/([0-9a-df-np-sv-z]{52})\.nar$/;

const LOG_NAME = /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]{1,211}\.drv$/;

export function createHandler(
  deps: HandlerDeps,
): AppHandler {
  const cacheInfo = new TextEncoder().encode(
    formatCacheInfo({ storeDir: deps.storeDir, wantMassQuery: true, priority: deps.priority }),
  );
  const started = Date.now();
  const { index } = deps;

  const narinfoResponse = (hashPart: string, bytes: Uint8Array, head: boolean) => {
    deps.onAccess?.(hashPart);
    return head
      ? new Response(null, {
        headers: [...NARINFO_HEADERS, ["content-length", String(bytes.length)]],
      })
      // A copy: index entries live in shared memory, which Response refuses.
      : new Response(bytes.slice(), NARINFO_INIT);
  };

  // Not async: the narinfo hot path answers synchronously from memory.
  return (req: AppRequest): AppResponse | Promise<AppResponse> => {
    const method = req.method;
    const path = pathOf(req.url);
    if (method === "GET" || method === "HEAD") {
      if (path.length === 41 && path.endsWith(".narinfo")) {
        const hashPart = path.slice(1, 33);
        if (!isValidHashPart(hashPart)) return notFound();
        const head = method === "HEAD";
        if (index.live) {
          const entry = index.peek(hashPart);
          return entry ? narinfoResponse(hashPart, entry.body, head) : notFound();
        }
        return index.get(hashPart).then((b) => b ? narinfoResponse(hashPart, b, head) : notFound());
      }
    }
    return slowPath(req, method, path);
  };

  async function slowPath(req: AppRequest, method: string, path: string): Promise<AppResponse> {
    if (method === "PUT" && deps.upload) return await deps.upload(req, path);
    if (method !== "GET" && method !== "HEAD") {
      return new Response("method not allowed\n", {
        status: 405,
        headers: { allow: "GET, HEAD", "cache-control": "no-store" },
      });
    }
    const head = method === "HEAD";
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
    if (path.startsWith("/peer/") && deps.peerNar) {
      const m = PEER_NAR.exec(path);
      if (!m) return notFound();
      const nar = await deps.peerNar(m[1], m[2]);
      if (!nar) return notFound();
      const fields: [string, string][] = [
        ["content-type", "application/x-nix-nar"],
        ["content-length", String(nar.size)],
        ["cache-control", "no-store"],
      ];
      if (head) {
        await nar.body.cancel().catch(() => {});
        return reply(200, fields);
      }
      deps.onServe?.({ type: "Serve", time: Date.now(), nar: path.slice(1), bytes: nar.size });
      // A stream that fails cuts the response short of its length: never a whole 200 of bad bytes.
      return reply(200, fields, nar.body);
    }
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
  }
}

const NARINFO_HEADERS = NARINFO_FIELDS;
const NARINFO_INIT: ResponseInit = { headers: NARINFO_HEADERS };
// With its length, so a HEAD carries the Content-Length a GET would (as the quick route's does).
const NOT_FOUND_INIT: ResponseInit = {
  status: 404,
  headers: [...NOT_FOUND_FIELDS, ["content-length", String(NOT_FOUND_BODY.length)]],
};

async function serveNar(
  deps: HandlerDeps,
  req: AppRequest,
  name: string,
  head: boolean,
): Promise<AppResponse> {
  const parsed = parseNarFileName(name);
  if (!parsed) return notFound();
  const body = await deps.store.openNar(name);
  if (!body) {
    deps.nars?.drop(name);
    // openNar may just have taken damaged paths out of service: let the index
    // drop their narinfos before answering, so the next narinfo GET is a 404 too.
    await deps.index.refresh().catch(() => {});
    return notFound();
  }
  const etag = `"${parsed.fileHash32}"`;
  const common: [string, string][] = [
    ["content-type", contentTypeOf(body.compression)],
    ["accept-ranges", "bytes"],
    ["etag", etag],
  ];
  const inm = req.headers.get("if-none-match");
  if (inm && inm.split(",").some((t) => t.trim() === etag || t.trim() === "*")) {
    return reply(304, [...common, IMMUTABLE]);
  }
  const range = parseRange(req.headers.get("range"), body.size);
  if (range.kind === "unsatisfiable") {
    return reply(416, [
      ...common,
      ["content-range", `bytes */${body.size}`],
      ["cache-control", "no-store"],
    ]);
  }
  const [start, end] = range.kind === "partial" ? [range.start, range.end] : [0, body.size];
  const fields = [...common, IMMUTABLE, ["content-length", String(end - start)] as const];
  const status = range.kind === "partial" ? 206 : 200;
  if (status === 206) fields.push(["content-range", `bytes ${start}-${end - 1}/${body.size}`]);
  if (head) return reply(status, fields);

  // Every chunk was checked to be on disk and intact by openNar, so the 200
  // that starts here runs to its end.
  let files: FileBody | ReadableStream<Uint8Array>;
  try {
    files = body.open ? await body.open(start, end) : body.body(start, end);
  } catch {
    return notFound();
  }
  deps.onServe?.({ type: "Serve", time: Date.now(), nar: name, bytes: end - start });
  const share = body.share;
  if (share && deps.nars) {
    const { parts, until, onShort } = share;
    deps.nars.put({ name, size: body.size, contentType: fields[0][1], parts, until }, onShort);
  }
  return reply(status, fields, files);
}

const IMMUTABLE = ["cache-control", "public, max-age=31536000, immutable"] as const;

async function serveLog(deps: HandlerDeps, name: string, head: boolean): Promise<Response> {
  if (!LOG_NAME.test(name)) return notFound();
  const bytes = await readLog(deps.store, deps.logsDir, name).catch((e) => {
    console.error(`arca: log/${name}: cannot be read now: ${(e as Error).message}`);
    return undefined;
  });
  if (!bytes) return notFound();
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
  return new Response(NOT_FOUND_BODY, NOT_FOUND_INIT);
}
