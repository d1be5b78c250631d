/**
 * The epoll front's worker thread, which may be started before the front
 * itself: a new isolate takes ~30 ms to load its modules, and `serve`
 * overlaps that with loading its own, opening the cache and the index (the
 * worker waits for its init message). On the portable server it is ended
 * unused.
 */

let early: Worker | undefined;

function newWorker(): Worker {
  return new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
}

/** Starts the worker now where the front can run: Linux, with the FFI permission granted. */
export function startFrontWorker(): void {
  if (early || Deno.build.os !== "linux") return;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return;
  early = newWorker();
}

/** The worker started ahead, or else a new one. */
export function takeFrontWorker(): Worker {
  const w = early ?? newWorker();
  early = undefined;
  return w;
}

/** Ends a worker started ahead that no front took. */
export function dropFrontWorker(): void {
  early?.terminate();
  early = undefined;
}
