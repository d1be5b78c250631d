/**
 * `serve`'s scheduled gc: one run every `intervalMs` until `signal` aborts.
 * A failed run is reported and the loop goes on. `t` is the kv backend's
 * target (`runGc`) or any run function (`runFsGc` bound to its store).
 */
import { type GcOptions, type GcReport, runGc } from "./run_gc.ts";
import type { SweepTarget } from "./sweep_store.ts";

export async function gcLoop(
  t: SweepTarget | ((opts: GcOptions) => Promise<GcReport>),
  intervalMs: number,
  opts: GcOptions,
  signal: AbortSignal,
  onRun: (r: GcReport | Error) => void = () => {},
): Promise<void> {
  while (!signal.aborted) {
    await sleep(intervalMs, signal);
    if (signal.aborted) return;
    try {
      onRun(await (typeof t === "function" ? t(opts) : runGc(t, opts)));
    } catch (e) {
      onRun(e as Error);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
