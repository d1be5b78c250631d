/**
 * Several caches behind one listener: the default cache at `/`, and each
 * `[[caches]]` entry under `/<name>/`, which sees its requests as if it were
 * at the root (`/team/<hash>.narinfo` reaches cache `team` as
 * `/<hash>.narinfo`, with `base` "/team" for the URLs it hands back).
 *
 * | request | goes to |
 * |---|---|
 * | `/<name>/…` | cache `<name>`, path `/…` |
 * | `/<name>` | a 308 to `/<name>/` (its status page's links are relative) |
 * | `/api/v1/cache/<name>/…` | cache `<name>`, unchanged: the Cachix client's routes for that cache |
 * | anything else | the default cache, unchanged |
 *
 * A cache name has no dot and is never one of the server's own first
 * segments (`RESERVED_CACHE_NAMES`), so `/<hash>.narinfo`, `/nar/…` and the
 * rest of the default cache's routes can never be taken for a cache.
 * Narinfo hits of every cache are normally answered before the app by the
 * HTTP driver (`quick_mounts.ts`); what comes here pays a few `indexOf`s.
 */
import type { AppHandler, AppRequest } from "./app.ts";
import type { ResponseObserver } from "./server_options.ts";

/** One cache as the server sees it: its app, and what counts its responses. */
export interface MountedCache {
  handle: AppHandler;
  observe?: ResponseObserver;
}

const CACHIX = "/api/v1/cache/";

/** A request for a mounted cache: its URL without the cache's prefix. */
class MountedRequest implements AppRequest {
  constructor(
    private inner: AppRequest,
    readonly url: string,
    readonly base: string,
  ) {}
  get method(): string {
    return this.inner.method;
  }
  get headers(): AppRequest["headers"] {
    return this.inner.headers;
  }
  get body(): ReadableStream<Uint8Array> | null {
    return this.inner.body;
  }
}

/** Where the path of `url` starts (after scheme and authority), or -1 when it has none. */
function pathStart(url: string): number {
  return url.indexOf("/", url.indexOf("//") + 2);
}

/** The mounted cache's name a path starts with, and where that segment ends. */
function segment(path: string, from: number): [string, number] {
  const end = path.indexOf("/", from);
  return end < 0 ? [path.slice(from), path.length] : [path.slice(from, end), end];
}

/**
 * One app and one observer for all of them. With no mounts it is `root`
 * itself: a server with one cache runs exactly as before.
 *
 * @example
 * ```ts
 * import { mountCaches } from "./cache_mounts.ts";
 * import assert from "node:assert/strict";
 * const app = mountCaches(
 *   { handle: (r) => new Response(`root ${r.url}`) },
 *   new Map([["team", { handle: (r) => new Response(`team ${r.url} ${r.base}`) }]]),
 * );
 * const get = async (u: string) => await (await app.handle(new Request(u)) as Response).text();
 * assert.equal(await get("http://h/team/x.narinfo"), "team http://h/x.narinfo /team");
 * assert.equal(await get("http://h/x.narinfo"), "root http://h/x.narinfo");
 * assert.equal(await get("http://h/other/x"), "root http://h/other/x");
 * ```
 */
export function mountCaches(
  root: MountedCache,
  mounts: ReadonlyMap<string, MountedCache>,
): Required<Pick<MountedCache, "handle">> & MountedCache {
  if (mounts.size === 0) return root;

  const handle: AppHandler = (req) => {
    const url = req.url;
    const s = pathStart(url);
    if (s < 0) return root.handle(req);
    const q = url.indexOf("?", s);
    const path = q < 0 ? url.slice(s) : url.slice(s, q);
    const [name, end] = segment(path, 1);
    const m = mounts.get(name);
    if (m) {
      if (end === path.length) {
        // `/team` alone: the page at `/team/` links to `status.json` relative to itself.
        return new Response(null, {
          status: 308,
          headers: {
            location: `/${name}/${q < 0 ? "" : url.slice(q)}`,
            "cache-control": "no-store",
          },
        });
      }
      const rest = url.slice(0, s) + url.slice(s + end);
      return m.handle(new MountedRequest(req, rest, `/${name}`));
    }
    if (path.startsWith(CACHIX)) {
      const [cache] = segment(path, CACHIX.length);
      const c = mounts.get(cache);
      if (c) return c.handle(new MountedRequest(req, url, `/${cache}`));
    }
    return root.handle(req);
  };

  const observe: ResponseObserver = (method, path, status, bytes) => {
    const [name, end] = segment(path, 1);
    let m = end < path.length ? mounts.get(name) : undefined;
    if (m) return m.observe?.(method, path.slice(end), status, bytes);
    if (path.startsWith(CACHIX)) {
      m = mounts.get(segment(path, CACHIX.length)[0]);
      if (m) return m.observe?.(method, path, status, bytes);
    }
    root.observe?.(method, path, status, bytes);
  };

  return { handle, observe };
}
