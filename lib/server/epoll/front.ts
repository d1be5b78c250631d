/**
 * The main thread's half of the epoll front: makes the listening socket,
 * starts the worker (worker.ts), keeps its copy of the narinfo index
 * current, and serves the requests it passes on with `serveRequest`, the
 * same code the portable server runs. Response bytes go to the worker in
 * order with at most a few messages ahead of what it has written.
 */
import { httpDate, HttpError, type RequestHead } from "../../http1/mod.ts";
import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  type Libc,
  listenTcp,
  openRead,
  SysError,
} from "../../io/libc.ts";
import type { FileBody } from "../../blob/file_body.ts";
import type { FollowableIndex, IndexEntry } from "../index_entry.ts";
import { type RequestBody, type ResponseSink, serveRequest } from "../respond.ts";
import {
  type Clock,
  DEFAULT_LIMITS,
  type HttpApp,
  type HttpServer,
  type HttpServerOptions,
} from "../server_options.ts";
import type { FileRange, FromWorker, SharedEntry, ToWorker, WorkerInit } from "./protocol.ts";
import type { SharedNar } from "../nar_table.ts";
import { takeFrontWorker } from "./front_worker.ts";

/**
 * `out` messages in flight per response before the main thread waits for
 * the worker to have written them: enough to keep the socket busy, little
 * memory (response pieces are up to 256 KiB).
 */
const AHEAD = 4;

class GoneError extends Error {
  override name = "GoneError";
  constructor() {
    super("the client closed the connection");
  }
}

/** One request the worker passed on, from its head to its response's end. */
class Remote implements ResponseSink {
  gone = false;
  #ahead = 0;
  #waiter: { res: () => void; rej: (e: Error) => void } | undefined;
  #body:
    | { res: () => void; rej: (e: Error) => void; ctl: ReadableStreamDefaultController<Uint8Array> }
    | undefined;
  #bodyDone = false;

  constructor(
    readonly id: number,
    private c: Libc,
    private post: (m: ToWorker, t?: Transferable[]) => void,
    private watchFiles: (id: number, onShort: FileBody["onShort"]) => void,
  ) {}

  write(bytes: Uint8Array): Promise<void> {
    if (this.gone) return Promise.reject(new GoneError());
    // A copy the worker owns: the caller reuses its buffer once this resolves.
    const data = bytes.slice().buffer;
    const ack = ++this.#ahead === AHEAD;
    this.post({ t: "out", id: this.id, data, ack }, [data]);
    if (!ack) return Promise.resolve();
    return new Promise((res, rej) => this.#waiter = { res, rej });
  }

  async sendFile(head: Uint8Array, body: FileBody): Promise<boolean> {
    if (this.gone) throw new GoneError();
    // Descriptors for the worker, by path: the body's own handles are Deno's.
    // A file gone since the body opened it (gc) is still readable through
    // those handles, so the body is then streamed instead.
    const fds = new Map<string, number>();
    try {
      for (const p of body.parts) if (!fds.has(p.path)) fds.set(p.path, openRead(this.c, p.path));
    } catch {
      for (const fd of fds.values()) this.c.sym.close(fd);
      return false;
    }
    body.close();
    this.watchFiles(this.id, body.onShort);
    // Both posted now, head first: from here the fds are the worker's to
    // close, whatever becomes of the connection.
    const headSent = this.write(head);
    const ranges = body.parts.map((p) => [fds.get(p.path)!, p.offset, p.length] as FileRange);
    this.post({ t: "files", id: this.id, fds: [...fds.values()], ranges });
    await headSent;
    return true;
  }

  /** The worker wrote everything sent so far. */
  written(): void {
    this.#ahead = 0;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.res();
  }

  openBody(): RequestBody {
    const stream = new ReadableStream<Uint8Array>({
      pull: (ctl) =>
        new Promise<void>((res, rej) => {
          if (this.gone) return rej(new GoneError());
          this.#body = { res, rej, ctl };
          this.post({ t: "pull", id: this.id });
        }),
    }, { highWaterMark: 0 }); // read from the socket only when the app asks (Expect: 100-continue)
    return { stream, done: () => this.#bodyDone };
  }

  body(data: ArrayBuffer, done: boolean): void {
    const b = this.#body;
    if (!b) return;
    this.#body = undefined;
    b.ctl.enqueue(new Uint8Array(data));
    if (done) {
      this.#bodyDone = true;
      b.ctl.close();
    }
    b.res();
  }

  bodyError(status: number, message: string): void {
    const b = this.#body;
    this.#body = undefined;
    b?.rej(status ? new HttpError(status, message) : new Error(message));
  }

  /** The connection ended: every wait fails, so the response code unwinds. */
  lost(): void {
    this.gone = true;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.rej(new GoneError());
    this.bodyError(0, new GoneError().message);
  }
}

/** Starts listening at once (throws if the address is taken) and serves `app`. */
export function serveEpoll(c: Libc, opts: HttpServerOptions, app: HttpApp): HttpServer {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const l = listenTcp(c, opts.hostname, opts.port);
  const wakeFd = c.sym.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd < 0) {
    const e = c.errno();
    c.sym.close(l.fd);
    throw new SysError("eventfd", e);
  }
  // The web MessageChannel (node:worker_threads' is the same one, and cost
  // the main thread node's compatibility layer at start): the worker drains
  // its port with receiveMessageOnPort.
  const { port1, port2 } = new MessageChannel();
  const worker = takeFrontWorker();

  let ended = false;
  // Messages go out in one post and one wake per turn (a microtask), not one each.
  let outbox: ToWorker[] = [];
  let transfers: Transferable[] = [];
  const one = new BigUint64Array([1n]);
  const wake = () => {
    // After the end the port and the eventfd are closed (its number may be reused).
    if (ended) return;
    port1.postMessage(outbox, transfers as never);
    outbox = [];
    transfers = [];
    c.sym.write(wakeFd, new Uint8Array(one.buffer), 8);
  };
  const post = (m: ToWorker, transfer: Transferable[] = []) => {
    // Index changes keep coming after the end; nobody is listening then.
    if (ended) return;
    if (outbox.push(m) === 1) queueMicrotask(wake);
    for (const t of transfer) transfers.push(t);
  };

  const quick = app.quick;
  const mounts = app.quickMounts ?? [];
  // The worker's copy of an index (the default cache's, or mount `mount`'s) follows it.
  const follow = (index: FollowableIndex, mount?: number) => {
    const shared = (e: IndexEntry): SharedEntry => [
      e.hashPart,
      e.body.buffer,
      e.body.byteOffset,
      e.body.length,
    ];
    const put: SharedEntry[] = [];
    for (const e of index.entries()) put.push(shared(e));
    post({ t: "index", live: index.live, put, del: [], mount });
    // Changes are sent in batches, one per turn of the event loop.
    let puts = new Map<string, IndexEntry | undefined>();
    let queued = false;
    const send = () => {
      queued = false;
      const batch = puts;
      puts = new Map();
      const m: ToWorker = { t: "index", live: index.live, put: [], del: [], mount };
      for (const [h, e] of batch) e ? m.put.push(shared(e)) : m.del.push(h);
      post(m);
    };
    const schedule = () => {
      if (!queued) {
        queued = true;
        queueMicrotask(send);
      }
    };
    index.onChange((h, e) => {
      puts.set(h, e);
      schedule();
    });
    // The message that says "live" carries (or follows) the load's last entries.
    index.onLive(schedule);
  };
  const nars = quick?.nars;
  if (nars) {
    post({ t: "nars", put: [...nars.entries()], del: [] });
    let changes = new Map<string, SharedNar | undefined>();
    let queued = false;
    nars.onChange((name, nar) => {
      changes.set(name, nar);
      if (queued) return;
      queued = true;
      queueMicrotask(() => {
        queued = false;
        const m: ToWorker = { t: "nars", put: [], del: [] };
        for (const [n, e] of changes) e ? m.put.push(e) : m.del.push(n);
        changes = new Map();
        post(m);
      });
    });
  }
  if (quick) follow(quick.index);
  mounts.forEach((m, i) => follow(m.index, i));

  const init: WorkerInit = {
    t: "init",
    port: port2 as unknown as MessagePort,
    listenFd: l.fd,
    wakeFd,
    limits,
    quick: quick !== undefined,
    nars: nars !== undefined,
    cacheInfo: quick?.cacheInfo ?? new Uint8Array(),
    counters: app.counters?.buffer,
    mounts: mounts.map((m) => ({
      name: m.name,
      cacheInfo: m.cacheInfo,
      counters: m.counters.buffer,
    })),
  };
  worker.postMessage(init, [port2 as unknown as Transferable]);

  const clock: Clock = { now: Date.now(), date: httpDate(Date.now()) };
  const tick = setInterval(() => {
    clock.now = Date.now();
    clock.date = httpDate(clock.now);
  }, 1000);

  let markReady!: () => void;
  const ready = new Promise<void>((r) => markReady = r);
  let stopping = false;
  const remotes = new Map<number, Remote>();
  let done: { res: () => void; rej: (e: Error) => void };
  const finished = new Promise<void>((res, rej) => done = { res, rej });
  const end = (failure?: Error) => {
    if (ended) return;
    ended = true;
    clearInterval(tick);
    for (const r of remotes.values()) r.lost();
    worker.terminate();
    port1.close();
    c.sym.close(wakeFd);
    failure ? done.rej(failure) : done.res();
  };

  // Requests whose files the worker is sending: a file found short is damage.
  const sending = new Map<number, FileBody["onShort"]>();
  const watchFiles = (id: number, onShort: FileBody["onShort"]) => sending.set(id, onShort);

  const serve = (id: number, head: RequestHead) => {
    const r = new Remote(id, c, post, watchFiles);
    remotes.set(id, r);
    serveRequest({
      app: app.handle,
      sink: r,
      date: () => clock.date,
      stopping: () => stopping,
      openBody: () => r.openBody(),
      observe: app.observe,
    }, head).then((keep) => {
      remotes.delete(id);
      if (!r.gone) post({ t: "end", id, keep });
    }).catch((e) => {
      // serveRequest answers every failure itself; this is a bug, and costs the connection.
      console.error(`arca: ${head.method} ${head.path}: ${(e as Error).stack ?? e}`);
      remotes.delete(id);
      post({ t: "end", id, keep: false });
    });
  };

  const onMessage = (m: FromWorker) => {
    switch (m.t) {
      case "req":
        return serve(m.id, m.head);
      case "body":
        return remotes.get(m.id)?.body(m.data, m.done);
      case "bodyError":
        return remotes.get(m.id)?.bodyError(m.status, m.message);
      case "written":
        if (m.files) sending.delete(m.id);
        return remotes.get(m.id)?.written();
      case "gone":
        sending.delete(m.id);
        return remotes.get(m.id)?.lost();
      case "short": {
        const onShort = sending.get(m.id);
        sending.delete(m.id);
        onShort?.(m.message).catch((e) => {
          console.error(`arca: taking a damaged NAR out of service failed: ${e.message}`);
        });
        return;
      }
      case "access": {
        const source = m.mount === undefined ? quick : mounts[m.mount];
        for (const h of m.hashParts) source?.onAccess?.(h);
        return;
      }
      case "narServed":
        for (let i = 0; i < m.list.length; i += 5) {
          const [method, name, status, bytes, body] = m.list.slice(i, i + 5) as [
            string,
            string,
            number,
            number,
            number,
          ];
          // As the app does: a Serve event per GET, none for a HEAD.
          if (method !== "HEAD") nars?.served(name, status, body);
          app.observe?.(method, `/nar/${name}`, status, bytes);
        }
        return;
      case "narShort":
        nars?.short(m.name, m.message).catch((e) => {
          console.error(`arca: taking a damaged NAR out of service failed: ${e.message}`);
        });
        return;
      case "stopped":
        return end();
      case "failed":
        return end(new Error(`the epoll front failed: ${m.message}`));
      case "ready":
        return markReady();
    }
  };
  worker.onmessage = (e: MessageEvent<FromWorker[]>) => {
    for (const m of e.data) onMessage(m);
  };
  worker.onerror = (e) => {
    e.preventDefault();
    end(new Error(`the epoll front failed: ${e.message}`));
  };

  let force: ReturnType<typeof setTimeout> | undefined;
  let kill: ReturnType<typeof setTimeout> | undefined;
  const shutdown = async () => {
    if (!stopping) {
      stopping = true;
      post({ t: "stop" });
      force = setTimeout(() => post({ t: "abort" }), limits.shutdownGraceMs);
      // A worker that does not answer an abort is ended all the same.
      kill = setTimeout(
        () => end(new Error("the epoll front did not stop")),
        limits.shutdownGraceMs + 5000,
      );
    }
    await finished.catch(() => {});
    clearTimeout(force);
    clearTimeout(kill);
  };
  opts.signal?.addEventListener("abort", () => void shutdown(), { once: true });
  if (opts.signal?.aborted) void shutdown();
  const addr = { hostname: l.hostname, port: l.port };
  opts.onListen?.(addr);
  return { addr, io: "epoll", finished, ready, shutdown };
}
