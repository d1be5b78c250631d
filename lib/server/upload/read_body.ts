/** Reads a small upload body (narinfo, listing, log) whole: size-capped, Content-Encoding undone. */
import { concatBytes } from "../../encoding/mod.ts";
import { UploadRefused } from "../../store/upload_refused.ts";
import { decodeContent, guardBody } from "../../store/upload_streams.ts";
import type { AppRequest } from "../app.ts";

export async function readBody(
  req: AppRequest,
  maxBytes: number,
  what: string,
): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let n = 0;
  const s = decodeContent(guardBody(req.body, maxBytes), req.headers.get("content-encoding"));
  try {
    for await (const p of s) {
      n += p.length;
      // The decoded size is capped too: a small gzip bomb must not fill memory.
      if (n > maxBytes) {
        throw new UploadRefused("too-large", `${what}: larger than ${maxBytes} bytes`);
      }
      parts.push(p);
    }
  } catch (e) {
    if (e instanceof UploadRefused) throw e;
    throw new UploadRefused("bad-request", `${what}: ${(e as Error)?.message ?? e}`);
  }
  return concatBytes(parts);
}
