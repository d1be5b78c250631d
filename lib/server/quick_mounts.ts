/**
 * Quick answers (quick_route.ts) for every cache a server holds: the default
 * cache's at `/`, and those of each `[[caches]]` entry under `/<name>/`
 * (`/<name>/<hash>.narinfo`, `/<name>/nix-cache-info`), each from its own
 * index into its own counters. Both HTTP drivers build theirs here, so a
 * mounted cache's narinfo hits cost what the default cache's do (on the
 * epoll front: no trip to the main thread).
 *
 * The default cache is asked first: its answers are for targets of exactly
 * 41 bytes (`/<hash>.narinfo`) or `/nix-cache-info`, so its hot path pays one
 * function call more and nothing per mount. A target it does not answer is
 * then matched against the mounts' `/<name>/` prefixes byte by byte.
 */
import { createQuickRoute, type QuickRouteDeps } from "./quick_route.ts";
import type { QuickAnswer } from "./read_head.ts";

/** A mounted cache's quick route: its name and what `createQuickRoute` takes. */
export interface QuickMountDeps extends QuickRouteDeps {
  name: string;
}

const SLASH = 47;
const enc = new TextEncoder();

export function quickRoutes(
  root: QuickRouteDeps | undefined,
  mounts: readonly QuickMountDeps[] = [],
): QuickAnswer | undefined {
  const first = root && createQuickRoute(root);
  if (mounts.length === 0) return first;
  const routes = mounts.map((m) => ({
    prefix: enc.encode(`/${m.name}`),
    answer: createQuickRoute(m),
  }));
  return (buf, from, to, head, date) => {
    const a = first?.(buf, from, to, head, date);
    if (a) return a;
    for (const { prefix, answer } of routes) {
      const n = prefix.length;
      if (to - from > n + 1 && buf[from + n] === SLASH && startsWith(buf, from, prefix)) {
        return answer(buf, from + n, to, head, date);
      }
    }
    return undefined;
  };
}

function startsWith(buf: Uint8Array, at: number, want: Uint8Array): boolean {
  for (let i = 0; i < want.length; i++) if (buf[at + i] !== want[i]) return false;
  return true;
}
