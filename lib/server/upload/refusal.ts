/**
 * The one map from upload failures to HTTP answers. A client's mistake is
 * always a 4xx with a one-line reason: Nix 2.8 answers a 5xx on PUT by
 * retrying with an empty body and stalling for minutes. Only Arca's own
 * failures (disk, database) are a 500, with details in the server's log.
 */
import { type RefusalKind, UploadRefused } from "../../store/upload_refused.ts";

const STATUS: Record<RefusalKind, number> = {
  "bad-request": 400,
  "unsupported": 415,
  "too-large": 413,
  "untrusted": 403,
  "conflict": 409,
  "not-found": 404,
  "busy": 429,
};

/** The HTTP status of a refusal of this kind. */
export function refusalStatus(kind: RefusalKind): number {
  return STATUS[kind];
}

/** The response for an error thrown while receiving `what` (e.g. "PUT /nar/…"). */
export function refusalResponse(e: unknown, what: string): Response {
  if (e instanceof UploadRefused) {
    console.error(`arca: refused ${what}: ${e.message}`);
    return textResponse(STATUS[e.kind], e.message);
  }
  console.error(`arca: ${what} failed: ${(e as Error)?.stack ?? e}`);
  return textResponse(500, "internal error while storing the upload (see the server log)");
}

export function textResponse(status: number, text: string): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain", "cache-control": "no-store" },
  });
}
