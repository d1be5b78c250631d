/**
 * `GET /` (the status page), `/status.json` and `/metrics` (Prometheus),
 * wrapped around the substituter's handler. Who may read them:
 *
 * | route | needs |
 * |---|---|
 * | `/metrics` | `metrics_token` when set; else the read token when the cache is private; else nothing |
 * | `/`, `/status.json` | the read token when the cache is private (an upload token also does) |
 *
 * Tokens come as for reads: HTTP Basic password or Bearer. A refusal is a
 * 401 that tells nothing about the cache; a browser then asks for the token.
 */
import { formatMetrics, PROMETHEUS_CONTENT_TYPE } from "../metrics/mod.ts";
import type { AppHandler, AppRequest, AppResponse } from "./app.ts";
import { credentialOf, tokenMatches } from "./upload/auth.ts";
import { pageCsp, renderStatusPage, statusJson } from "./status_page.ts";
import type { ServerMetrics } from "./server_metrics.ts";
import type { StatusSource } from "./status_source.ts";

export interface StatusRoutesOptions {
  source: StatusSource;
  metrics: ServerMetrics;
  /** "" for an open cache. */
  readToken: string;
  /** Upload tokens also grant reads. */
  uploadTokens: readonly string[];
  /** "": /metrics is guarded like reads. */
  metricsToken: string;
}

export function withStatusRoutes(inner: AppHandler, o: StatusRoutesOptions): AppHandler {
  const readers = o.readToken ? [o.readToken, ...o.uploadTokens] : [];
  const scrapers = o.metricsToken ? [o.metricsToken] : readers;
  // Not async: every other request goes straight through.
  return (req) => {
    const m = req.method;
    if (m !== "GET" && m !== "HEAD") return inner(req);
    const path = pathOf(req.url);
    if (path === "/metrics") return guarded(req, scrapers, () => metrics(o));
    if (path === "/") return guarded(req, readers, () => page(o, req));
    if (path === "/status.json") return guarded(req, readers, () => json(o));
    return inner(req);
  };
}

async function guarded(
  req: AppRequest,
  tokens: string[],
  answer: () => Promise<Response>,
): Promise<AppResponse> {
  if (tokens.length && !tokenMatches(credentialOf(req), tokens)) {
    return new Response("a token is needed\n", {
      status: 401,
      headers: {
        "www-authenticate": 'Basic realm="arca"',
        "content-type": "text/plain",
        "cache-control": "no-store",
      },
    });
  }
  const res = await answer();
  return req.method === "HEAD" ? new Response(null, res) : res;
}

async function metrics(o: StatusRoutesOptions): Promise<Response> {
  const text = formatMetrics(o.metrics.families(await o.source()));
  return new Response(text, {
    headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
  });
}

async function json(o: StatusRoutesOptions): Promise<Response> {
  return new Response(JSON.stringify(statusJson(await o.source())), {
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

async function page(o: StatusRoutesOptions, req: AppRequest): Promise<Response> {
  const nonce = crypto.randomUUID().replaceAll("-", "");
  const html = renderStatusPage(await o.source(), { url: cacheUrl(req), nonce });
  return new Response(html, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": pageCsp(nonce),
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store",
    },
  });
}

/**
 * The URL clients reach the cache at: this request's origin, https behind a
 * TLS proxy, and the cache's path under the server (`/team`) if it has one.
 */
function cacheUrl(req: AppRequest): string {
  const u = new URL(req.url);
  const proto = req.headers.get("x-forwarded-proto");
  if (proto === "https" || proto === "http") u.protocol = `${proto}:`;
  return u.origin + (req.base ?? "");
}

function pathOf(url: string): string {
  const s = url.indexOf("/", url.indexOf("//") + 2);
  if (s < 0) return "/";
  const q = url.indexOf("?", s);
  return q < 0 ? url.slice(s) : url.slice(s, q);
}
