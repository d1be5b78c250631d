/** JSON in and out, as servant speaks it to the cachix client. */
import { UploadRefused } from "../../store/upload_refused.ts";
import { readBody } from "../upload/read_body.ts";
import type { AppRequest } from "../app.ts";

/** A JSON answer (servant's content type, which the client checks). */
export function json(status: number, value: unknown): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json;charset=utf-8", "cache-control": "no-store" },
  });
}

/** A 200 without a body: servant's `NoContent`. */
export function noContent(): Response {
  return new Response(null, { status: 200, headers: { "cache-control": "no-store" } });
}

/** The request body parsed as JSON (at most `maxBytes`); a "bad-request" refusal otherwise. */
export async function readJson(req: AppRequest, maxBytes: number, what: string): Promise<unknown> {
  const bytes = await readBody(req, maxBytes, what);
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new UploadRefused(
      "bad-request",
      `${what}: the body is not JSON: ${(e as Error).message}`,
    );
  }
}
