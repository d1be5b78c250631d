/**
 * Errors in the one JSON shape the cachix client reads: RFC 9457 problem
 * details (`application/problem+json`: type, title, status, detail), which
 * its retry logic decodes for `retry_after` (`lookupRetryAfterBody` in
 * cachix/src/Cachix/Client/Retry.hs); otherwise it prints the body as it
 * is (`accessDeniedBinaryCache` in Command/Push.hs appends it after
 * "Error: "). A client's mistake is a 4xx with its reason in `detail`; only
 * Arca's own failures are a 500, with details in the server's log.
 */
import { UploadRefused } from "../../store/upload_refused.ts";
import { refusalStatus } from "../upload/refusal.ts";

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
};

/** Seconds a client told "busy" (429) waits before trying again. */
const RETRY_AFTER = 5;

export function problem(status: number, detail: string, headers: HeadersInit = {}): Response {
  const body: Record<string, string | number> = {
    type: "about:blank",
    title: TITLES[status] ?? "Error",
    status,
    detail,
  };
  const h = new Headers(headers);
  if (status === 429) {
    body.retry_after = RETRY_AFTER;
    h.set("retry-after", String(RETRY_AFTER));
  }
  h.set("content-type", "application/problem+json");
  h.set("cache-control", "no-store");
  return new Response(`${JSON.stringify(body)}\n`, { status, headers: h });
}

/** The answer to an error thrown while handling `what` (logged with it). */
export function problemOf(e: unknown, what: string): Response {
  if (e instanceof UploadRefused) {
    console.error(`arca: refused ${what}: ${e.message}`);
    return problem(refusalStatus(e.kind), e.message);
  }
  console.error(`arca: ${what} failed: ${(e as Error)?.stack ?? e}`);
  return problem(500, "internal error while handling the request (see the server log)");
}
