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
import type { StatusSourceDeps } from "../lib/server/status_source.ts";
import { lateApp } from "../lib/server/late_app.ts";
import { NarTable } from "../lib/server/nar_table.ts";
import type { GcWiring } from "./_gc_serve.ts";
import type { UploadWiring } from "./_uploads.ts";

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

/** How long after the server takes connections the rest is wired (if no request needed it). */
const REST_AFTER_MS = 200;

/**
 * Serves until `opts.signal` aborts; resolves once the server has stopped
 * cleanly. It listens as soon as the index has started loading and the core
 * handler exists; uploads, gc, the status page and /metrics are wired while
 * the first requests are answered (`lateApp`).
 */
export async function runServer(config: Config, store: Store, opts: ServeRunOptions) {
  const addr = parseBind(config.bind)!;
  const layout = cacheLayout(config.cache_dir, config.db_path);
  const cacheInfo = formatCacheInfo({
    storeDir: config.store_dir,
    wantMassQuery: true,
    priority: config.priority,
  });
  await writeCacheInfo(layout, cacheInfo);
  const index = new NarinfoIndex(store);
  // The index is loaded and the rest wired a moment after the server takes
  // connections, or at once when a request needs the rest: on one core,
  // loading them while the front's thread started and the first requests
  // came in delayed the first answer by ~40 ms (a 10,000-path cache).
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
  const onAccess = (h: string) => gc ? gc.onAccess?.(h) : early.push(h);
  // NAR files the front's worker sends by itself once served (its Serve events come back here).
  const nars = new NarTable((nar, _status, bytes) =>
    audit.add({ type: "Serve", time: Date.now(), nar, bytes })
  );
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
  const stop = new AbortController();
  opts.signal.addEventListener("abort", () => stop.abort(), { once: true });
  wired.catch((e) => {
    // Without it uploads, tokens and the status page would not work: stop.
    console.error(`arca: starting the server failed: ${(e as Error).message}`);
    stop.abort();
  });
  const server = serveHttp({
    hostname: addr.hostname,
    port: addr.port,
    io: config.http_io,
    signal: stop.signal,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      console.log(
        `arca: serving ${config.cache_dir} (${store.backend}) on http://${host}:${port}`,
      );
      opts.onListen?.(`http://${host}:${port}`);
    },
  }, {
    // A private cache checks a token on every read: no shortcut around it.
    quick: config.read_token ? undefined : {
      index,
      cacheInfo: new TextEncoder().encode(cacheInfo),
      onAccess,
      nars,
    },
    handle: lateApp(handler, wired, { private: config.read_token !== "", need: startRest }),
    counters: metrics.counters,
    observe: metrics.observe,
  });
  console.error(
    server.io === "epoll"
      ? "arca: HTTP on the epoll front (sockets on a thread of their own)"
      : "arca: HTTP on Deno's sockets (portable)",
  );
  server.ready.then(() => setTimeout(startRest, REST_AFTER_MS));
  const ok = await wired.then(() => true, () => false);
  if (ok) console.error(`arca: ${uploads!.summary}`);
  await server.finished;
  await audit.flush();
  await gc?.stop();
  await uploads?.close();
  if (!ok) throw new Error("the server could not be wired (see above)");
}

/** Writes nix-cache-info (the flat layout's file) unless it already says this. */
async function writeCacheInfo(layout: { tmp: string; cacheInfo: string }, text: string) {
  const now = await Deno.readTextFile(layout.cacheInfo).catch(() => undefined);
  if (now !== text) await writeFileAtomic(layout.tmp, layout.cacheInfo, text);
}
