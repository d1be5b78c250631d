/**
 * The epoll front's event loop: level-triggered epoll over non-blocking
 * descriptors, run on its own thread (a Worker) because it blocks in
 * epoll_wait. Each descriptor has a handler; interest is changed only when
 * it changes (a narinfo connection stays on EPOLLIN for its whole life, so
 * its requests cost epoll_wait, recv and send, as nginx's do).
 */
import {
  EINTR,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  type Libc,
  SysError,
} from "../../io/libc.ts";

export interface FdHandler {
  /** Called with the ready mask (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP). */
  onEvents(mask: number): void;
}

const MAX_EVENTS = 256;

export class Reactor {
  readonly #c: Libc;
  readonly #ep: number;
  readonly #events: Uint8Array;
  readonly #view: DataView;
  readonly #ctl: Uint8Array;
  readonly #ctlView: DataView;
  /** Handlers by descriptor (descriptors are small integers). */
  #handlers: (FdHandler | undefined)[] = [];
  #running = true;

  constructor(c: Libc) {
    this.#c = c;
    this.#ep = c.sym.epoll_create1(0o2000000);
    if (this.#ep < 0) throw new SysError("epoll_create1", c.errno());
    this.#events = new Uint8Array(c.epollEventSize * MAX_EVENTS);
    this.#view = new DataView(this.#events.buffer);
    this.#ctl = new Uint8Array(c.epollEventSize);
    this.#ctlView = new DataView(this.#ctl.buffer);
  }

  add(fd: number, mask: number, h: FdHandler): void {
    this.#handlers[fd] = h;
    this.#control(EPOLL_CTL_ADD, fd, mask);
  }

  modify(fd: number, mask: number): void {
    this.#control(EPOLL_CTL_MOD, fd, mask);
  }

  /** Forgets `fd` (before it is closed, so a reused number cannot reach the old handler). */
  remove(fd: number): void {
    this.#handlers[fd] = undefined;
    this.#control(EPOLL_CTL_DEL, fd, 0);
  }

  #control(op: number, fd: number, mask: number): void {
    this.#ctlView.setUint32(0, mask, true);
    // The data field carries the descriptor (its low 32 bits; the rest stays 0).
    this.#ctlView.setUint32(this.#c.epollDataOffset, fd, true);
    if (this.#c.sym.epoll_ctl(this.#ep, op, fd, this.#ctl) !== 0 && op !== EPOLL_CTL_DEL) {
      throw new SysError("epoll_ctl", this.#c.errno());
    }
  }

  /** Ends `run` after the current round of events. */
  stop(): void {
    this.#running = false;
  }

  /**
   * Waits for and dispatches events until `stop`; calls `afterRound` after
   * each round of events, and `onTick` about every `tickMs` (timeouts, the
   * Date field), busy or idle.
   */
  run(tickMs: number, afterRound: () => void, onTick: (now: number) => void): void {
    const c = this.#c;
    const size = c.epollEventSize;
    const dataAt = c.epollDataOffset;
    let nextTick = Date.now() + tickMs;
    while (this.#running) {
      const wait = Math.max(0, nextTick - Date.now());
      const n = c.sym.epoll_wait(this.#ep, this.#events, MAX_EVENTS, wait);
      if (n < 0) {
        const e = c.errno();
        if (e === EINTR) continue;
        throw new SysError("epoll_wait", e);
      }
      for (let i = 0; i < n; i++) {
        const at = i * size;
        const h = this.#handlers[this.#view.getUint32(at + dataAt, true)];
        // A handler earlier in this round may have closed this descriptor.
        if (h) h.onEvents(this.#view.getUint32(at, true));
      }
      afterRound();
      const now = Date.now();
      if (now >= nextTick) {
        nextTick = now + tickMs;
        onTick(now);
      }
    }
  }

  close(): void {
    this.#c.sym.close(this.#ep);
  }
}
