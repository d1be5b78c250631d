/**
 * Arca's HTTP/1.1 server, in place of `Deno.serve`. On Linux with the FFI
 * permission it is the epoll front (lib/server/epoll/): sockets and quick
 * answers on a worker thread of their own, the app on the main thread.
 * Elsewhere, or with `io: "portable"`, it is the portable server on Deno's
 * sockets. Both read heads, frame responses and time out alike; the tests
 * run against both.
 */
import { loadLibc } from "../io/libc.ts";
import { serveEpoll } from "./epoll/front.ts";
import { dropFrontWorker } from "./epoll/front_worker.ts";
import { servePortable } from "./portable_server.ts";
import type { HttpApp, HttpServer, HttpServerOptions } from "./server_options.ts";

export type {
  HttpApp,
  HttpIo,
  HttpLimits,
  HttpServer,
  HttpServerOptions,
  QuickMount,
  QuickSource,
} from "./server_options.ts";
export { DEFAULT_LIMITS } from "./server_options.ts";

/** Starts listening at once (throws if the address is taken) and serves `app`. */
export function serveHttp(opts: HttpServerOptions, app: HttpApp): HttpServer {
  const io = opts.io ?? "auto";
  const libc = io === "portable" ? undefined : loadLibc();
  if (libc) return serveEpoll(libc, opts, app);
  dropFrontWorker();
  if (io === "portable") return servePortable(opts, app);
  if (io === "epoll") {
    throw new Error(
      "the epoll HTTP front needs Linux (x86_64 or aarch64) and the FFI permission " +
        '(--allow-ffi); use http_io = "auto" or "portable" elsewhere',
    );
  }
  return servePortable(opts, app);
}
