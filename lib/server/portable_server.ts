/**
 * The portable HTTP/1.1 server: a `Deno.listen` listener and its
 * connections (http_connection.ts), where the epoll front cannot run. In
 * place of `Deno.serve`: measured here on one core, Deno.serve answered a
 * narinfo at ~60k req/s against nginx's ~70-90k and streamed a file at ~1.5
 * GB/s against ~2.9; a plain read/write loop over `Deno.listen` does
 * ~80-95k and ~2.2 GB/s.
 */
import { httpDate } from "../http1/mod.ts";
import { HttpConnection } from "./http_connection.ts";
import { quickRoutes } from "./quick_mounts.ts";
import { BUSY_RESPONSE } from "./respond.ts";
import { newWireCounters, WIRE } from "./wire_counters.ts";
import {
  type Clock,
  DEFAULT_LIMITS,
  type HttpApp,
  type HttpServer,
  type HttpServerOptions,
} from "./server_options.ts";

/** Starts listening at once (throws if the address is taken) and serves `app`. */
export function servePortable(opts: HttpServerOptions, app: HttpApp): HttpServer {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const listener = Deno.listen({ hostname: opts.hostname, port: opts.port, transport: "tcp" });
  const local = listener.addr as Deno.NetAddr;
  const addr = { hostname: local.hostname, port: local.port };
  const conns = new Set<HttpConnection>();
  // This thread is the counters' only writer here.
  const counters = app.counters ?? newWireCounters();
  const quick = quickRoutes(app.quick && { ...app.quick, counters }, app.quickMounts);
  const clock: Clock = {
    now: Date.now(),
    date: httpDate(Date.now()),
  };
  // One timer for every connection's deadline, and the Date header's text
  // made once a second rather than per response.
  const tick = setInterval(() => {
    clock.now = Date.now();
    clock.date = httpDate(clock.now);
    for (const c of conns) c.checkDeadline(clock.now);
  }, 1000);

  let stopping = false;
  let allGone: () => void = () => {};
  const gone = new Promise<void>((r) => allGone = r);
  const onGone = (c: HttpConnection) => {
    conns.delete(c);
    if (stopping && conns.size === 0) allGone();
  };

  const shutdown = async () => {
    if (!stopping) {
      stopping = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      for (const c of conns) c.stop();
      if (conns.size === 0) allGone();
      const force = setTimeout(() => {
        for (const c of conns) c.abort();
      }, limits.shutdownGraceMs);
      await gone;
      clearTimeout(force);
      clearInterval(tick);
    }
    await gone;
  };
  opts.signal?.addEventListener("abort", () => void shutdown(), { once: true });

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept() as Deno.TcpConn;
      } catch (e) {
        if (stopping) return;
        // EMFILE and friends: back off briefly rather than spin or die.
        console.error(`arca: accept failed: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (stopping || conns.size >= limits.maxConnections) {
        if (!stopping) counters[WIRE.refused]++;
        refuse(conn, stopping);
        continue;
      }
      const c = new HttpConnection(conn, app, quick, limits, clock, onGone, counters);
      conns.add(c);
      c.run();
    }
  })();
  if (opts.signal?.aborted) void shutdown();
  opts.onListen?.(addr);
  return {
    addr,
    io: "portable",
    finished: Promise.all([accepting, gone]).then(() => {}),
    ready: Promise.resolve(),
    shutdown,
  };
}

function refuse(conn: Deno.Conn, stopping: boolean): void {
  if (stopping) {
    conn.close();
    return;
  }
  conn.write(BUSY_RESPONSE).catch(() => {}).finally(() => {
    try {
      conn.close();
    } catch { /* gone */ }
  });
}
