/**
 * Running the substituter over an open store: what `serve` does, and what
 * `swarm --also-serve` does in the same process as the swarm. The default
 * cache is served at `/`, and every `[[caches]]` entry under `/<name>/` from
 * its own store, opened here: the HTTP thread answers each one's narinfo
 * hits from memory (`quick_mounts.ts`), `cache_mounts.ts` routes the rest.
 */
import type { Config } from "../lib/config/mod.ts";
import { parseBind } from "../lib/config/parse_bind.ts";
import type { HandlerDeps } from "../lib/server/handler.ts";
import type { NarinfoIndex } from "../lib/server/narinfo_index.ts";
import { serveHttp } from "../lib/server/http_server.ts";
import { mountCaches, type MountedCache } from "../lib/server/cache_mounts.ts";
import type { Store } from "../lib/store/store.ts";
import type { StatusSourceDeps } from "../lib/server/status_source.ts";
import { namedCache, openConfiguredStore } from "./_context.ts";
import { serveCache, type ServedCache } from "./_serve_cache.ts";

export interface ServeRunOptions {
  anonymous: boolean;
  signal: AbortSignal;
  /** Called with the default cache's narinfo index once it has started loading, before listening. */
  withIndex?: (index: NarinfoIndex) => void | Promise<void>;
  /** Called with the address once listening. */
  onListen?: (url: string) => void;
  /** NARs of paths known from swarm peers (see `HandlerDeps.peerNar`); the default cache's. */
  peerNar?: HandlerDeps["peerNar"];
  /** Swarm figures for the default cache's status page and /metrics. */
  swarm?: StatusSourceDeps["swarm"];
}

/** How long after the server takes connections the rest is wired (if no request needed it). */
const REST_AFTER_MS = 200;

/**
 * Serves until `opts.signal` aborts; resolves once the server has stopped
 * cleanly. It listens as soon as the indexes have started loading and the
 * core handlers exist; uploads, gc, the status pages and /metrics are wired
 * while the first requests are answered (`ServedCache.wire`).
 */
export async function runServer(config: Config, store: Store, opts: ServeRunOptions) {
  const addr = parseBind(config.bind)!;
  // Ends the indexes' polling and the gc loops also when starting fails halfway.
  const life = new AbortController();
  const quit = () => life.abort();
  opts.signal.addEventListener("abort", quit, { once: true });
  if (opts.signal.aborted) quit();
  const served: ServedCache[] = [];
  const stores: Store[] = [];
  let wiredOk = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const root = await serveCache(config, store, {
      anonymous: opts.anonymous,
      signal: life.signal,
      withIndex: opts.withIndex,
      shareNars: true,
      peerNar: opts.peerNar,
      swarm: opts.swarm,
    });
    served.push(root);
    const mounts = new Map<string, MountedCache>();
    const named: [string, ServedCache][] = [];
    for (const c of config.caches) {
      const cc = namedCache(config, c.name);
      const s = await openConfiguredStore(cc);
      stores.push(s);
      const one = await serveCache(cc, s, { anonymous: opts.anonymous, signal: life.signal });
      served.push(one);
      named.push([c.name, one]);
      mounts.set(c.name, { handle: one.handle, observe: one.metrics.observe });
    }
    const app = mountCaches({ handle: root.handle, observe: root.metrics.observe }, mounts);
    let base = "";
    const server = serveHttp({
      hostname: addr.hostname,
      port: addr.port,
      io: config.http_io,
      signal: life.signal,
      onListen: ({ hostname, port }) => {
        const host = hostname.includes(":") ? `[${hostname}]` : hostname;
        base = `http://${host}:${port}`;
        console.log(`arca: serving ${config.cache_dir} (${store.backend}) on ${base}`);
        opts.onListen?.(base);
      },
    }, {
      // A private cache checks a token on every read: no shortcut around it.
      quick: config.read_token ? undefined : {
        index: root.index,
        cacheInfo: root.cacheInfo,
        onAccess: root.onAccess,
        nars: root.nars,
      },
      // The same for each cache under /<name>/, with its own index and counters.
      quickMounts: named.filter(([, one]) => !one.config.read_token).map(([name, one]) => ({
        name,
        index: one.index,
        cacheInfo: one.cacheInfo,
        onAccess: one.onAccess,
        counters: one.metrics.counters,
      })),
      handle: app.handle,
      counters: root.metrics.counters,
      observe: app.observe,
    });
    console.error(
      server.io === "epoll"
        ? "arca: HTTP on the epoll front (sockets on a thread of their own)"
        : "arca: HTTP on Deno's sockets (portable)",
    );
    // Each cache's rest is wired a moment after the server takes connections
    // (or at once when a request needs it); without it uploads, tokens and the
    // status page would not work, so a failure stops the server.
    server.ready.then(() => timer = setTimeout(() => wireAll(), REST_AFTER_MS), () => {});
    const wireAll = () =>
      Promise.all(served.map((s) => s.wire())).then((summaries) => {
        console.error(`arca: ${summaries[0]}`);
        named.forEach(([name, one], i) => {
          console.error(
            `arca: cache "${name}" (${one.config.cache_dir}) at ${base}/${name}/; ` +
              summaries[i + 1],
          );
        });
      }, (e) => {
        wiredOk = false;
        console.error(`arca: starting the server failed: ${(e as Error).message}`);
        quit();
      });
    await server.finished;
  } finally {
    // A server stopped within REST_AFTER_MS is not wired now (close() wires what it must flush).
    clearTimeout(timer);
    quit();
    for (const s of served) {
      await s.close().catch((e) => console.error(`arca: closing a cache: ${e.message}`));
    }
    for (const s of stores) await s.close().catch(() => {});
  }
  if (!wiredOk) throw new Error("the server could not be wired (see above)");
}
