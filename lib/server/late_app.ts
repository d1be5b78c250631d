/**
 * The app of a server that listens before all of it is wired: loading the
 * uploads, the Cachix API, gc, the status page and the signing keys took
 * most of `serve`'s start, and Nix's first requests need none of them. Until
 * the full app is ready, the reads that the core handler answers exactly as
 * the full app would (a public cache's narinfos, NAR files and
 * nix-cache-info) go to it at once; every other request waits for the full
 * app. A private cache waits for it on every request (reads need a token).
 */
import type { AppHandler, AppRequest } from "./app.ts";

export function lateApp(
  core: AppHandler,
  full: Promise<AppHandler>,
  /** `need`: called when a request waits for the full app (to wire it now). */
  opts: { private: boolean; need?: () => void },
): AppHandler {
  let app: AppHandler | undefined;
  full.then((a) => app = a, () => {});
  return (req) => {
    if (app) return app(req);
    if (!opts.private && isCoreRead(req)) return core(req);
    opts.need?.();
    return full.then((a) => a(req));
  };
}

/** GET or HEAD of a narinfo or /nix-cache-info, GET of a NAR file (a HEAD may be an uploaded one's). */
function isCoreRead(req: AppRequest): boolean {
  const m = req.method;
  if (m !== "GET" && m !== "HEAD") return false;
  const path = pathOf(req.url);
  if (path.length === 41 && path.endsWith(".narinfo")) return true;
  if (path === "/nix-cache-info") return true;
  return m === "GET" && path.startsWith("/nar/");
}

function pathOf(url: string): string {
  const s = url.indexOf("/", url.indexOf("//") + 2);
  if (s < 0) return "/";
  const q = url.indexOf("?", s);
  return q < 0 ? url.slice(s) : url.slice(s, q);
}
