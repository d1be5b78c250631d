/**
 * One cache's part of `serve` over its open store: its nix-cache-info, the
 * narinfo index, uploads (and the Cachix API), gc's access times and
 * scheduled runs, the audit batcher, its counters, and the app that answers
 * for it (status page, /status.json and /metrics included). `runServer`
 * makes one for the default cache and one per `[[caches]]` entry.
 *
 * The core handler (narinfos, NAR files, nix-cache-info) exists at once;
 * uploads, gc, the status page and the signing keys are wired by `wire()`
 * (after the server takes connections, or when a request needs them), and
 * until then `lateApp` sends the core reads to the core handler.
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
import type { StatusSourceDeps } from "../lib/server/status_source.ts";
import { lateApp } from "../lib/server/late_app.ts";
import { NarTable } from "../lib/server/nar_table.ts";
import type { GcWiring } from "./_gc_serve.ts";
import type { UploadWiring } from "./_uploads.ts";

export interface ServedCacheOptions {
  anonymous: boolean;
  /** Ends the index's polling and the scheduled gc. */
  signal: AbortSignal;
  /** Called with the narinfo index once it has started loading. */
  withIndex?: (index: NarinfoIndex) => void | Promise<void>;
  /** Shares the NAR files it served with the epoll front's worker (the default cache's). */
  shareNars?: boolean;
  peerNar?: HandlerDeps["peerNar"];
  swarm?: StatusSourceDeps["swarm"];
}

export interface ServedCache {
  config: Config;
  index: NarinfoIndex;
  /** `nix-cache-info` as served. */
  cacheInfo: Uint8Array;
  metrics: ServerMetrics;
  /** NAR files the front's worker may send itself (with `shareNars`). */
  nars?: NarTable;
  /** Every request for this cache (paths relative to where it is served). */
  handle: AppHandler;
  /** gc's access times, for the quick route's hits. */
  onAccess: (hashPart: string) => void;
  /** Wires the rest (idempotent); resolves with the line about uploads for the start-up message. */
  wire(): Promise<string>;
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
  await writeCacheInfo(layout, cacheInfo);
  const index = new NarinfoIndex(store);
  // The index is loaded with the rest: on one core, loading it while the
  // front's thread started and the first requests came in delayed the first
  // answer by ~40 ms (a 10,000-path cache). Until then narinfos come from KV.
  let startRest!: () => void;
  const restStarted = new Promise<void>((r) => startRest = r);
  await index.start(opts.signal, restStarted);
  await opts.withIndex?.(index);
  const audit = new AuditBatcher((evs) => store.audit(evs));
  const metrics = new ServerMetrics();
  metrics.start(opts.signal);
  let gc: GcWiring | undefined;
  let uploads: UploadWiring | undefined;
  // Narinfo hits before gc is wired still count for its access times.
  const early: string[] = [];
  const onAccess = (h: string) => gc ? gc.onAccess?.(h) : void early.push(h);
  // NAR files the front's worker sends by itself once served (its Serve events come back here).
  const nars = opts.shareNars
    ? new NarTable((nar, _status, bytes) =>
      audit.add({ type: "Serve", time: Date.now(), nar, bytes })
    )
    : undefined;
  const handler = createHandler({
    store,
    index,
    nars,
    storeDir: config.store_dir,
    priority: config.priority,
    logsDir: layout.logs,
    onServe: (ev) => audit.add(ev),
    onAccess,
    upload: async (req, path) => {
      startRest();
      await wired;
      return await uploads!.upload(req, path);
    },
    peerNar: opts.peerNar,
  });
  const wired = restStarted.then(async () => {
    const [{ gcWiring }, { uploadWiring }, status, routes, sign, { signingKeys }] = await Promise
      .all([
        import("./_gc_serve.ts"),
        import("./_uploads.ts"),
        import("../lib/server/status_source.ts"),
        import("../lib/server/status_routes.ts"),
        import("../lib/sign/mod.ts"),
        import("./_context.ts"),
      ]);
    gc = gcWiring(config, store, opts.signal);
    for (const h of early.splice(0)) gc.onAccess?.(h);
    uploads = await uploadWiring(config, store, layout, {
      anonymous: opts.anonymous,
      onPublish: () => index.refresh(),
      onOutcome: metrics.upload,
    });
    const source = status.createStatusSource({
      store,
      index,
      metrics,
      httpIo: config.http_io,
      publicKeys: (await signingKeys(config, [])).map((k) =>
        sign.formatPublicKey(sign.publicKeyOf(k))
      ),
      private: config.read_token !== "",
      uploads: uploads.tokens.length ? "token" : opts.anonymous ? "anonymous" : "disabled",
      swarm: opts.swarm,
    });
    return routes.withStatusRoutes(uploads.wrap(handler), {
      source,
      metrics,
      readToken: config.read_token,
      uploadTokens: uploads.tokens,
      metricsToken: config.metrics_token,
    });
  });
  // Failing is reported by whoever awaits wire(); this only keeps it from being unhandled.
  wired.catch(() => {});
  return {
    config,
    index,
    cacheInfo: new TextEncoder().encode(cacheInfo),
    metrics,
    nars,
    handle: lateApp(handler, wired, { private: config.read_token !== "", need: startRest }),
    onAccess,
    wire: () => {
      startRest();
      return wired.then(() => uploads!.summary);
    },
    async close() {
      await audit.flush();
      // Narinfo hits of a server stopped before it was wired still count for gc.
      if (!gc && early.length) {
        startRest();
        await wired.catch(() => {});
      }
      await gc?.stop();
      await uploads?.close();
    },
  };
}

/** Writes nix-cache-info (the flat layout's file) unless it already says this. */
async function writeCacheInfo(layout: { tmp: string; cacheInfo: string }, text: string) {
  const now = await Deno.readTextFile(layout.cacheInfo).catch(() => undefined);
  if (now !== text) await writeFileAtomic(layout.tmp, layout.cacheInfo, text);
}
