/**
 * One cache's part of `serve` over its open store: its nix-cache-info, the
 * narinfo index, uploads (and the Cachix API), gc's access times and
 * scheduled runs, the audit batcher, its counters, and the app that answers
 * for it (status page, /status.json and /metrics included). `runServer`
 * makes one for the default cache and one per `[[caches]]` entry.
 */
import type { Config } from "../lib/config/mod.ts";
import { formatCacheInfo } from "../lib/narinfo/mod.ts";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { writeFileAtomic } from "../lib/blob/atomic_file.ts";
import { createHandler, type HandlerDeps } from "../lib/server/handler.ts";
import { NarinfoIndex } from "../lib/server/narinfo_index.ts";
import { AuditBatcher } from "../lib/server/audit_batcher.ts";
import type { AppHandler } from "../lib/server/app.ts";
import type { Store } from "../lib/store/store.ts";
import { ServerMetrics } from "../lib/server/server_metrics.ts";
import { createStatusSource, type StatusSourceDeps } from "../lib/server/status_source.ts";
import { withStatusRoutes } from "../lib/server/status_routes.ts";
import { formatPublicKey, publicKeyOf } from "../lib/sign/mod.ts";
import { signingKeys } from "./_context.ts";
import { gcWiring } from "./_gc_serve.ts";
import { uploadWiring } from "./_uploads.ts";

export interface ServedCacheOptions {
  anonymous: boolean;
  /** Ends the index's polling and the scheduled gc. */
  signal: AbortSignal;
  /** Called with the narinfo index once it is loaded. */
  withIndex?: (index: NarinfoIndex) => void | Promise<void>;
  peerNar?: HandlerDeps["peerNar"];
  swarm?: StatusSourceDeps["swarm"];
}

export interface ServedCache {
  config: Config;
  index: NarinfoIndex;
  /** `nix-cache-info` as served. */
  cacheInfo: Uint8Array;
  metrics: ServerMetrics;
  /** Every request for this cache (paths relative to where it is served). */
  handle: AppHandler;
  /** gc's access times, for the quick route's hits. */
  onAccess?: (hashPart: string) => void;
  /** One line about uploads for the start-up message. */
  summary: string;
  /** After the server stopped: flushes the audit log and access times, ends gc and uploads. */
  close(): Promise<void>;
}

export async function serveCache(
  config: Config,
  store: Store,
  opts: ServedCacheOptions,
): Promise<ServedCache> {
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
  return {
    config,
    index,
    cacheInfo: new TextEncoder().encode(cacheInfo),
    metrics,
    handle: withStatusRoutes(uploads.wrap(handler), {
      source,
      metrics,
      readToken: config.read_token,
      uploadTokens: uploads.tokens,
      metricsToken: config.metrics_token,
    }),
    onAccess: gc.onAccess,
    summary: uploads.summary,
    async close() {
      await audit.flush();
      await gc.stop();
      await uploads.close();
    },
  };
}
