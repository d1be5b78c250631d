/**
 * The few libc calls Arca's epoll HTTP front needs, through Deno's FFI:
 * sockets, epoll, an eventfd, sendfile, plain opens and a file's size.
 *
 * Why: a narinfo answer is one read and one write, yet each of Deno's async
 * socket ops costs ~1.4 us of user time around them (a promise, the op
 * table, tokio's readiness bookkeeping). Measured on one pinned core under
 * wrk, a blocking epoll loop over these calls spent 0.25 us of user time
 * per request, Deno.listen 1.6 us, nginx 1.3 us (kernel time ~3.7 us in all
 * three). Calls are declared with 32-bit results so V8 can take its fast
 * path (a BigInt result per call is slow); no call here moves 2 GiB at once.
 *
 * Only Linux on x86_64 and aarch64 (glibc or musl, whose `libc.so.6` or
 * `libc.so` is found), and only with the FFI permission: `loadLibc`
 * returns undefined otherwise and callers keep Deno's own sockets.
 */

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  sendfile: { parameters: ["i32", "i32", "buffer", "u32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  getaddrinfo: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "i32" },
  freeaddrinfo: { parameters: ["pointer"], result: "void" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

type LibcSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

// Linux's generic values (the same on x86_64 and aarch64).
export const AF_INET = 2;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const SEEK_END = 2;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_MORE = 0x8000;
export const EPOLLIN = 0x1;
export const EPOLLOUT = 0x4;
export const EPOLLERR = 0x8;
export const EPOLLHUP = 0x10;
export const EPOLLRDHUP = 0x2000;
export const EPOLLET = 1 << 31;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EINTR = 4;
export const EAGAIN = 11;
export const EMFILE = 24;
export const ENFILE = 23;
export const EPIPE = 32;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;
export const ECONNRESET = 104;
export const EACCES = 13;

/** The calls, the thread's errno, and the layout of `struct epoll_event` here. */
export interface Libc {
  readonly sym: LibcSymbols;
  /** errno of the calling thread (valid right after a call returned -1). */
  errno(): number;
  /** sizeof(struct epoll_event): packed (12) on x86_64, 16 elsewhere. */
  readonly epollEventSize: number;
  /** Where the 64-bit data field starts in an epoll_event. */
  readonly epollDataOffset: number;
}

/** libc through FFI, or undefined where that is not possible (see the module comment). */
export function loadLibc(): Libc | undefined {
  if (Deno.build.os !== "linux") return undefined;
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") return undefined;
  // Never a permission prompt for this.
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
  let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
  for (const name of ["libc.so.6", "libc.so"]) {
    try {
      lib = Deno.dlopen(name, SYMBOLS);
      break;
    } catch { /* try the next name */ }
  }
  if (!lib) return undefined;
  const sym = lib.symbols;
  let errnoView: Deno.UnsafePointerView | undefined;
  const packed = Deno.build.arch === "x86_64";
  return {
    sym,
    errno: () => {
      // The location is per thread and stable for its life.
      errnoView ??= new Deno.UnsafePointerView(sym.__errno_location()!);
      return errnoView.getInt32();
    },
    epollEventSize: packed ? 12 : 16,
    epollDataOffset: packed ? 4 : 8,
  };
}

/** A socket address in its C layout (IPv4 or IPv6), and back. */
function encodeSockaddr(family: number, ip: Uint8Array, port: number): Uint8Array {
  const sa = new Uint8Array(family === AF_INET ? 16 : 28);
  const dv = new DataView(sa.buffer);
  dv.setUint16(0, family, true);
  dv.setUint16(2, port, false);
  sa.set(ip, family === AF_INET ? 4 : 8);
  return sa;
}

function decodeSockaddr(sa: Uint8Array): { hostname: string; port: number } {
  const dv = new DataView(sa.buffer, sa.byteOffset, sa.byteLength);
  const family = dv.getUint16(0, true);
  const port = dv.getUint16(2, false);
  if (family === AF_INET) return { hostname: [...sa.subarray(4, 8)].join("."), port };
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(dv.getUint16(8 + 2 * i, false).toString(16));
  // The URL parser writes the canonical (compressed) form.
  return { hostname: new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1), port };
}

const cString = (s: string) => new TextEncoder().encode(`${s}\0`);

/** A system error with the errno name users search for, like Deno's own errors. */
export class SysError extends Error {
  override name = "SysError";
  constructor(readonly call: string, readonly errno: number, detail = "") {
    super(`${call}: ${describeErrno(errno)}${detail ? ` (${detail})` : ""}`);
  }
}

const ERRNO_TEXT: Record<number, string> = {
  [EADDRINUSE]: "address already in use (EADDRINUSE)",
  [EADDRNOTAVAIL]: "address not available on this host (EADDRNOTAVAIL)",
  [EACCES]: "permission denied (EACCES)",
  [EMFILE]: "too many open files (EMFILE)",
  [ENFILE]: "too many open files in the system (ENFILE)",
  [ECONNRESET]: "connection reset by peer (ECONNRESET)",
  [EPIPE]: "broken pipe (EPIPE)",
  2: "no such file or directory (ENOENT)",
};

function describeErrno(errno: number): string {
  return ERRNO_TEXT[errno] ?? `errno ${errno}`;
}

/**
 * The first address `hostname` resolves to for a TCP listener, the way
 * Deno.listen picks it (getaddrinfo, first result).
 */
function resolveHost(c: Libc, hostname: string): { family: number; ip: Uint8Array } {
  const hints = new Uint8Array(48);
  new DataView(hints.buffer).setInt32(8, SOCK_STREAM, true); // ai_socktype
  const out = new BigUint64Array(1);
  const rc = c.sym.getaddrinfo(cString(hostname), null, hints, new Uint8Array(out.buffer));
  if (rc !== 0) throw new SysError("getaddrinfo", 0, `cannot resolve ${hostname}: code ${rc}`);
  const head = Deno.UnsafePointer.create(out[0]);
  try {
    const ai = new Deno.UnsafePointerView(head!);
    const family = ai.getInt32(4);
    const sa = new Deno.UnsafePointerView(ai.getPointer(24)!);
    const ip = family === AF_INET
      ? new Uint8Array(sa.getArrayBuffer(4, 4).slice(0))
      : new Uint8Array(sa.getArrayBuffer(16, 8).slice(0));
    return { family, ip };
  } finally {
    c.sym.freeaddrinfo(head);
  }
}

/**
 * A non-blocking listening TCP socket at `hostname:port` (port 0: any free
 * one), with SO_REUSEADDR as Deno.listen sets it. Throws SysError (e.g.
 * EADDRINUSE) without leaving a socket open.
 */
export function listenTcp(
  c: Libc,
  hostname: string,
  port: number,
  backlog = 1024,
): { fd: number; hostname: string; port: number } {
  const { family, ip } = resolveHost(c, hostname);
  const fd = c.sym.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SysError("socket", c.errno());
  try {
    setIntOption(c, fd, SOL_SOCKET, SO_REUSEADDR, 1);
    const sa = encodeSockaddr(family, ip, port);
    if (c.sym.bind(fd, sa, sa.length) !== 0) {
      throw new SysError("bind", c.errno(), `${hostname}:${port}`);
    }
    if (c.sym.listen(fd, backlog) !== 0) throw new SysError("listen", c.errno());
    const got = new Uint8Array(28);
    const len = new Uint32Array([got.length]);
    if (c.sym.getsockname(fd, got, new Uint8Array(len.buffer)) !== 0) {
      throw new SysError("getsockname", c.errno());
    }
    return { fd, ...decodeSockaddr(got.subarray(0, len[0])) };
  } catch (e) {
    c.sym.close(fd);
    throw e;
  }
}

export function setIntOption(c: Libc, fd: number, level: number, name: number, v: number): void {
  const val = new Int32Array([v]);
  c.sym.setsockopt(fd, level, name, new Uint8Array(val.buffer), 4);
}

/** Opens a file for reading; the descriptor is the caller's to close. Throws SysError. */
export function openRead(c: Libc, path: string): number {
  const fd = c.sym.open(cString(path), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) throw new SysError("open", c.errno(), path);
  return fd;
}
