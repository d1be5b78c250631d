/**
 * Running the substituter over an open store: what `serve` does, and what
 * `swarm --also-serve` does in the same process as the swarm.
 */
import type { Config } from "../lib/config/mod.ts";
import { parseBind } from "../lib/config/parse_bind.ts";
import { formatCacheInfo } from "../lib/narinfo/mod.ts";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { writeFileAtomic } from "../lib/blob/atomic_file.ts";
import { createHandler, type HandlerDeps } from "../lib/server/handler.ts";
import { NarinfoIndex } from "../lib/server/narinfo_index.ts";
import { serveHttp } from "../lib/server/http_server.ts";
import { AuditBatcher } from "../lib/server/audit_batcher.ts";
import type { Store } from "../lib/store/store.ts";
import { ServerMetrics } from "../lib/server/server_metrics.ts";
import { createStatusSource, type StatusSourceDeps } from "../lib/server/status_source.ts";
import { withStatusRoutes } from "../lib/server/status_routes.ts";
import { formatPublicKey, publicKeyOf } from "../lib/sign/mod.ts";
import { signingKeys } from "./_context.ts";
import { gcWiring } from "./_gc_serve.ts";
import { uploadWiring } from "./_uploads.ts";

export interface ServeRunOptions {
  anonymous: boolean;
  signal: AbortSignal;
  /** Called with the narinfo index once it is loaded, before the server listens. */
  withIndex?: (index: NarinfoIndex) => void | Promise<void>;
  /** Called with the address once listening. */
  onListen?: (url: string) => void;
  /** NARs of paths known from swarm peers (see `HandlerDeps.peerNar`). */
  peerNar?: HandlerDeps["peerNar"];
  /** Swarm figures for the status page and /metrics. */
  swarm?: StatusSourceDeps["swarm"];
}

/** Serves until `opts.signal` aborts; resolves once the server has stopped cleanly. */
export async function runServer(config: Config, store: Store, opts: ServeRunOptions) {
  const addr = parseBind(config.bind)!;
  const layout = cacheLayout(config.cache_dir, config.db_path);
  const cacheInfo = formatCacheInfo({
    storeDir: config.store_dir,
    wantMassQuery: true,
    priority: config.priority,
  });
  await writeFileAtomic(layout.tmp, layout.cacheInfo, cacheInfo);
  const index = new NarinfoIndex(store);
  await index.start(opts.signal);
  await opts.withIndex?.(index);
  const audit = new AuditBatcher((evs) => store.audit(evs));
  const gc = gcWiring(config, store, opts.signal);
  const metrics = new ServerMetrics();
  metrics.start(opts.signal);
  const uploads = await uploadWiring(config, store, layout, {
    anonymous: opts.anonymous,
    onPublish: () => index.refresh(),
    onOutcome: metrics.upload,
  });
  const handler = createHandler({
    store,
    index,
    storeDir: config.store_dir,
    priority: config.priority,
    logsDir: layout.logs,
    onServe: (ev) => audit.add(ev),
    onAccess: gc.onAccess,
    upload: uploads.upload,
    peerNar: opts.peerNar,
  });
  const source = createStatusSource({
    store,
    index,
    metrics,
    httpIo: config.http_io,
    publicKeys: (await signingKeys(config, [])).map((k) => formatPublicKey(publicKeyOf(k))),
    private: config.read_token !== "",
    uploads: uploads.tokens.length ? "token" : opts.anonymous ? "anonymous" : "disabled",
    swarm: opts.swarm,
  });
  const server = serveHttp({
    hostname: addr.hostname,
    port: addr.port,
    io: config.http_io,
    signal: opts.signal,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      console.log(
        `arca: serving ${config.cache_dir} (${store.backend}) on http://${host}:${port}`,
      );
      console.error(`arca: ${uploads.summary}`);
      opts.onListen?.(`http://${host}:${port}`);
    },
  }, {
    // A private cache checks a token on every read: no shortcut around it.
    quick: config.read_token ? undefined : {
      index,
      cacheInfo: new TextEncoder().encode(cacheInfo),
      onAccess: gc.onAccess,
    },
    handle: withStatusRoutes(uploads.wrap(handler), {
      source,
      metrics,
      readToken: config.read_token,
      uploadTokens: uploads.tokens,
      metricsToken: config.metrics_token,
    }),
    counters: metrics.counters,
    observe: metrics.observe,
  });
  console.error(
    server.io === "epoll"
      ? "arca: HTTP on the epoll front (sockets on a thread of their own)"
      : "arca: HTTP on Deno's sockets (portable)",
  );
  await server.finished;
  await audit.flush();
  await gc.stop();
  await uploads.close();
}
