/**
 * The epoll front's thread: accepts connections on the listening socket the
 * main thread made, reads requests, answers narinfo and nix-cache-info
 * requests from its copy of the index, and passes every other request to
 * the main thread (see protocol.ts). It blocks in epoll_wait and never
 * returns to its own event loop; messages from the main thread are drained
 * with `receiveMessageOnPort` when the main thread writes the eventfd.
 */
/// <reference lib="deno.worker" />
import { receiveMessageOnPort } from "node:worker_threads";
import { httpDate, type RequestHead } from "../../http1/mod.ts";
import { HashPartMap } from "../../store_path/mod.ts";
import {
  EAGAIN,
  EINTR,
  EMFILE,
  ENFILE,
  EPOLLIN,
  IPPROTO_TCP,
  type Libc,
  loadLibc,
  MSG_NOSIGNAL,
  setIntOption,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  TCP_NODELAY,
} from "../../io/libc.ts";
import { quickRoutes } from "../quick_mounts.ts";
import { BUSY_RESPONSE } from "../respond.ts";
import { newWireCounters, WIRE } from "../wire_counters.ts";
import { type EntryLookup, IndexEntry } from "../index_entry.ts";
import type { FromWorker, SharedEntry, ToWorker, WorkerInit } from "./protocol.ts";
import { Reactor } from "./reactor.ts";
import { NarSender } from "./nar_sender.ts";
import { CONNECTION_EVENTS, type ConnHost, WireConnection } from "./wire_connection.ts";

/** The worker's copy of the narinfo index, kept up to date by `index` messages. */
class IndexReplica implements EntryLookup {
  live = false;
  #map = new HashPartMap<IndexEntry>();

  peekAt(buf: Uint8Array, at: number): IndexEntry | undefined {
    return this.#map.getAt(buf, at);
  }

  apply(live: boolean, put: SharedEntry[], del: string[]): void {
    this.live = live;
    for (const h of del) this.#map.delete(h);
    for (const [h, buf, at, n] of put) {
      this.#map.set(h, new IndexEntry(h, new Uint8Array(buf, at, n)));
    }
  }
}

// Bound while the main thread still gets ready: the calls cost a few ms to set up.
const libc = loadLibc();

function run(init: WorkerInit): void {
  const c: Libc = libc!;
  // Messages go out once per round of events (one wake of the main thread);
  // `later` ones wait for an urgent one or the next tick.
  let outbox: FromWorker[] = [];
  let transfers: ArrayBuffer[] = [];
  let urgent = false;
  const post = (m: FromWorker, transfer?: ArrayBuffer, later = false) => {
    outbox.push(m);
    if (transfer) transfers.push(transfer);
    if (!later) urgent = true;
  };
  const flush = () => {
    if (!outbox.length) return;
    self.postMessage(outbox, transfers);
    outbox = [];
    transfers = [];
    urgent = false;
  };
  const reactor = new Reactor(c);
  const index = new IndexReplica();
  let accessed: string[] = [];
  const counters = init.counters ? new Uint32Array(init.counters) : newWireCounters();
  // Mounted caches (`/<name>/`): an index copy, access times and counters each.
  const mounts = (init.mounts ?? []).map((m) => ({
    ...m,
    index: new IndexReplica(),
    accessed: [] as string[],
  }));
  const quick = quickRoutes(
    init.quick
      ? { index, cacheInfo: init.cacheInfo, onAccess: (h) => accessed.push(h), counters }
      : undefined,
    mounts.map((m) => ({
      name: m.name,
      index: m.index,
      cacheInfo: m.cacheInfo,
      onAccess: (h: string) => m.accessed.push(h),
      counters: new Uint32Array(m.counters),
    })),
  );
  const nars = init.nars ? new NarSender(c) : undefined;
  let served: (string | number)[] = [];
  const conns = new Set<WireConnection>();
  const requests = new Map<number, WireConnection>();
  let lastId = 0;
  let stopping = false;
  let listening = true;
  let acceptPaused = false;

  const host: ConnHost = {
    c,
    reactor,
    limits: init.limits,
    clock: { now: Date.now(), date: httpDate(Date.now()) },
    quick,
    nars,
    served(method: string, name: string, status: number, bytes: number, body: number) {
      served.push(method, name, status, bytes, body);
    },
    counters,
    get stopping() {
      return stopping;
    },
    begin(conn: WireConnection, head: RequestHead): number {
      const id = ++lastId;
      requests.set(id, conn);
      post({ t: "req", id, head });
      return id;
    },
    end(id: number) {
      requests.delete(id);
    },
    post,
    closed(conn: WireConnection) {
      conns.delete(conn);
      if (stopping && conns.size === 0) reactor.stop();
    },
  };

  const closeListener = () => {
    if (!listening) return;
    listening = false;
    reactor.remove(init.listenFd);
    c.sym.close(init.listenFd);
  };

  const accept = {
    onEvents() {
      for (;;) {
        const fd = c.sym.accept4(init.listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          const e = c.errno();
          if (e === EINTR) continue;
          if (e === EMFILE || e === ENFILE) {
            // Out of descriptors: wait for the next tick rather than spin or die.
            console.error(`arca: accept failed: too many open files; pausing for a second`);
            reactor.modify(init.listenFd, 0);
            acceptPaused = true;
          } else if (e !== EAGAIN) {
            console.error(`arca: accept failed: errno ${e}`);
          }
          return;
        }
        if (conns.size >= init.limits.maxConnections) {
          counters[WIRE.refused]++;
          c.sym.send(fd, BUSY_RESPONSE, BUSY_RESPONSE.length, MSG_NOSIGNAL);
          c.sym.close(fd);
          continue;
        }
        setIntOption(c, fd, IPPROTO_TCP, TCP_NODELAY, 1);
        const conn = new WireConnection(fd, host);
        conns.add(conn);
        reactor.add(fd, CONNECTION_EVENTS, conn);
      }
    },
  };

  const stop = (now: boolean) => {
    stopping = true;
    closeListener();
    for (const conn of [...conns]) now ? conn.abort() : conn.stop();
    if (conns.size === 0) reactor.stop();
  };

  const onMessage = (m: ToWorker) => {
    switch (m.t) {
      case "index":
        return (m.mount === undefined ? index : mounts[m.mount].index).apply(m.live, m.put, m.del);
      case "nars":
        return nars?.apply(m.put, m.del);
      case "out":
        return requests.get(m.id)?.out(m.id, m.data, m.ack);
      case "files":
        // Descriptors are the worker's from here on, also when the request is gone.
        if (!requests.get(m.id)?.files(m.id, m.fds, m.ranges)) {
          for (const fd of m.fds) c.sym.close(fd);
        }
        return;
      case "end":
        return requests.get(m.id)?.endResponse(m.id, m.keep);
      case "pull":
        return requests.get(m.id)?.pull(m.id);
      case "stop":
        return stop(false);
      case "abort":
        return stop(true);
    }
  };

  const counter = new BigUint64Array(1);
  const wake = {
    onEvents() {
      // Reset the counter first: a post after this writes it again.
      c.sym.read(init.wakeFd, new Uint8Array(counter.buffer), 8);
      for (;;) {
        const got = receiveMessageOnPort(init.port as never) as { message: ToWorker[] } | undefined;
        if (!got) break;
        for (const m of got.message) {
          try {
            onMessage(m);
          } catch (e) {
            console.error(`arca: epoll front: ${m.t} failed: ${(e as Error).stack ?? e}`);
            if ("id" in m) requests.get(m.id)?.abort();
          }
        }
      }
    },
  };

  reactor.add(init.listenFd, EPOLLIN, accept);
  reactor.add(init.wakeFd, EPOLLIN, wake);
  post({ t: "ready" });
  const flushAccessed = () => {
    if (accessed.length) {
      post({ t: "access", hashParts: accessed });
      accessed = [];
    }
    mounts.forEach((m, i) => {
      if (m.accessed.length) {
        post({ t: "access", hashParts: m.accessed, mount: i });
        m.accessed = [];
      }
    });
    if (served.length) {
      post({ t: "narServed", list: served });
      served = [];
    }
  };
  reactor.run(1000, () => urgent && flush(), (now) => {
    host.clock.now = now;
    host.clock.date = httpDate(now);
    for (const conn of conns) conn.checkDeadline(now);
    nars?.sweep(now);
    flushAccessed();
    flush();
    if (acceptPaused && listening) {
      acceptPaused = false;
      reactor.modify(init.listenFd, EPOLLIN);
    }
  });
  closeListener();
  nars?.close();
  reactor.remove(init.wakeFd);
  reactor.close();
  // Before "stopped": the main thread records these before it stops.
  flushAccessed();
  post({ t: "stopped" });
  flush();
}

self.onmessage = (e: MessageEvent<WorkerInit>) => {
  self.onmessage = null;
  try {
    run(e.data);
  } catch (err) {
    // A bug here must not leave the server half alive: the main thread ends it.
    console.error(`arca: the epoll front failed: ${(err as Error).stack ?? err}`);
    self.postMessage([{ t: "failed", message: (err as Error).message }]);
  }
};
