import type { Command } from "./_command.ts";
import { expectPositionals, parseFlags, str } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { checkValue, type Config } from "../lib/config/mod.ts";
import { parseBind } from "../lib/config/parse_bind.ts";
import { formatCacheInfo } from "../lib/narinfo/mod.ts";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { writeFileAtomic } from "../lib/blob/atomic_file.ts";
import { createHandler } from "../lib/server/handler.ts";
import { NarinfoIndex } from "../lib/server/narinfo_index.ts";
import { serveHttp } from "../lib/server/http_server.ts";
import { AuditBatcher } from "../lib/server/audit_batcher.ts";
import { ServerMetrics } from "../lib/server/server_metrics.ts";
import { createStatusSource } from "../lib/server/status_source.ts";
import { withStatusRoutes } from "../lib/server/status_routes.ts";
import { formatPublicKey, publicKeyOf } from "../lib/sign/mod.ts";
import { gcWiring } from "./_gc_serve.ts";
import { uploadWiring } from "./_uploads.ts";
import {
  effectiveConfig,
  signingKeys,
  STORE_FLAGS,
  STORE_OPTIONS_HELP,
  storeOverrides,
  withStore,
} from "./_context.ts";

export const serveCommand: Command = {
  name: "serve",
  summary: "serve the cache to Nix over HTTP (a substituter)",
  help: `Usage: arca serve [--bind HOST:PORT] [--priority N]

Serves the cache as a Nix binary cache: /nix-cache-info, /<hash>.narinfo,
/nar/<file>, /log/<drv> and /health. Point Nix at it with
  substituters = http://127.0.0.1:5555
  trusted-public-keys = <your key from 'arca sign-keygen'>
It prints the address it listens on (port 0 picks a free port) and stops
cleanly on SIGINT or SIGTERM. Paths imported by other arca processes while it
runs are served as soon as they are committed.

Options:
  --bind HOST:PORT   listen address (default: config 'bind', 127.0.0.1:5555)
  --priority N       priority in nix-cache-info, lower wins (default: config 'priority', 40)
  --allow-anonymous-upload
                     accept uploads without a token when none is configured

Uploads ('nix copy --to http://user:TOKEN@HOST:PORT'): PUTs need a token from
config 'upload_tokens' or ARCA_UPLOAD_TOKEN (as the HTTP Basic password or a
Bearer token); without one, uploads are refused. Uploaded narinfos are checked
(NAR hash and size, references cached, a signature by 'trusted_public_keys'
when set) and signed with the configured keys when 'sign_uploads' is on.
'read_token' (ARCA_READ_TOKEN) makes the cache private.

A status page for a person is at / (what the cache holds, recent activity,
the nix.conf lines to use it; /status.json is its data), Prometheus metrics at
/metrics. With 'read_token' both need the read token; 'metrics_token'
(ARCA_METRICS_TOKEN) gives /metrics a token of its own.

GC roots: 'PUT /gcroots/NAME' with the same token and a body of store paths,
one per line (full paths or basenames), keeps their closures through gc;
'?expires=7d' (or header 'X-Arca-Expires: 7d') makes it end; 'DELETE
/gcroots/NAME' removes it. Paths not cached yet are accepted and kept once
they arrive.
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, {
      bind: { type: "string" },
      priority: { type: "string" },
      "allow-anonymous-upload": { type: "boolean" },
      ...STORE_FLAGS,
    }, globals);
    expectPositionals(p, 0, 0, "");
    const flags: Partial<Config> = {};
    const bind = str(p, "bind");
    const prio = str(p, "priority");
    try {
      if (bind !== undefined) flags.bind = checkValue("bind", bind, "--bind") as string;
      if (prio !== undefined) {
        flags.priority = checkValue(
          "priority",
          /^\d+$/.test(prio) ? BigInt(prio) : prio,
          "--priority",
        );
      }
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const config = await effectiveConfig(p.globals, { ...flags, ...storeOverrides(p) });
    const addr = parseBind(config.bind)!;
    const layout = cacheLayout(config.cache_dir, config.db_path);

    return await withStore(config, async (store) => {
      const stop = new AbortController();
      const cacheInfo = formatCacheInfo({
        storeDir: config.store_dir,
        wantMassQuery: true,
        priority: config.priority,
      });
      await writeFileAtomic(layout.tmp, layout.cacheInfo, cacheInfo);
      const index = new NarinfoIndex(store);
      await index.start(stop.signal);
      const audit = new AuditBatcher((evs) => store.audit(evs));
      const gc = gcWiring(config, store, stop.signal);
      const metrics = new ServerMetrics();
      metrics.start(stop.signal);
      const anonymous = p.values["allow-anonymous-upload"] === true;
      const uploads = await uploadWiring(config, store, layout, {
        anonymous,
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
      });
      const source = createStatusSource({
        store,
        index,
        metrics,
        httpIo: config.http_io,
        publicKeys: (await signingKeys(config, [])).map((k) => formatPublicKey(publicKeyOf(k))),
        private: config.read_token !== "",
        uploads: uploads.tokens.length ? "token" : anonymous ? "anonymous" : "disabled",
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
          console.error(`arca: ${uploads.summary}`);
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
      const quit = () => stop.abort();
      Deno.addSignalListener("SIGINT", quit);
      Deno.addSignalListener("SIGTERM", quit);
      await server.finished;
      Deno.removeSignalListener("SIGINT", quit);
      Deno.removeSignalListener("SIGTERM", quit);
      await audit.flush();
      await gc.stop();
      uploads.close();
      console.error("arca: stopped");
      return 0;
    });
  },
};
