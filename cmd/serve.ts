import type { Command } from "./_command.ts";
import { expectPositionals, noCacheFlag, parseFlags, str } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { checkValue, type Config } from "../lib/config/mod.ts";
import { STORE_FLAGS, STORE_OPTIONS_HELP, storeOverrides } from "./_store_flags.ts";
import { startFrontWorker } from "../lib/server/epoll/front_worker.ts";

export const serveCommand: Command = {
  name: "serve",
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

Cachix clients push with the same tokens: 'cachix --host http://HOST:PORT push
NAME PATH' (CACHIX_AUTH_TOKEN = an upload token; CACHIX_SIGNING_KEY optional).
The API is served under /api/v1/cache/NAME/; any NAME reaches this cache.

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
    noCacheFlag(p.globals, "serve");
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
    // The HTTP front's thread loads while this one loads the server and opens the cache.
    startFrontWorker();
    const [{ runServer }, { effectiveConfig, withStore }] = await Promise.all([
      import("./_serve_run.ts"),
      import("./_context.ts"),
    ]);
    const config = await effectiveConfig(p.globals, { ...flags, ...storeOverrides(p) });
    return await withStore(config, async (store) => {
      const stop = new AbortController();
      const quit = () => stop.abort();
      Deno.addSignalListener("SIGINT", quit);
      Deno.addSignalListener("SIGTERM", quit);
      try {
        await runServer(config, store, {
          anonymous: p.values["allow-anonymous-upload"] === true,
          signal: stop.signal,
        });
      } finally {
        Deno.removeSignalListener("SIGINT", quit);
        Deno.removeSignalListener("SIGTERM", quit);
      }
      console.error("arca: stopped");
      return 0;
    });
  },
};
