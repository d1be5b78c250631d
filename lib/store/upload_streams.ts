/**
 * Stream pieces for receiving uploads: a guard that turns a broken or
 * oversized request body into a refusal, a FileHash check, and a sniff for
 * gzip (Nix names `none` and `gzip` NARs alike, without an extension).
 */
import { createHash } from "node:crypto";
import { decompressStream } from "../compress/mod.ts";
import { encodeNix32 } from "../encoding/mod.ts";
import { UploadRefused } from "./upload_refused.ts";

/**
 * Re-reads `body`, refusing it once it passes `maxBytes`; a failed read (the
 * client hung up, a short Content-Length) becomes a "bad-request" refusal.
 */
export function guardBody(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        return ctl.error(
          new UploadRefused("bad-request", `the upload body ended early (${message(e)})`),
        );
      }
      if (r.done) return ctl.close();
      seen += r.value.length;
      if (seen > maxBytes) {
        reader.cancel().catch(() => {});
        return ctl.error(
          new UploadRefused("too-large", `the upload is larger than ${maxBytes} bytes`),
        );
      }
      ctl.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason).catch(() => {});
    },
  });
}

/** Passes bytes through; at the end, refuses unless their sha256 is `nix32`. */
export function checkSha256(nix32: string, what: string): TransformStream<Uint8Array, Uint8Array> {
  const h = createHash("sha256");
  let size = 0;
  return new TransformStream({
    transform(piece, ctl) {
      h.update(piece);
      size += piece.length;
      ctl.enqueue(piece);
    },
    flush() {
      const got = encodeNix32(new Uint8Array(h.digest()));
      if (got !== nix32) {
        throw new UploadRefused(
          "bad-request",
          `${what}: the ${size} bytes received hash to sha256:${got}, not to the name's ${nix32}`,
        );
      }
    },
  });
}

/** Whether `src` starts with gzip's magic; the returned stream still has every byte. */
export async function sniffGzip(
  src: ReadableStream<Uint8Array>,
): Promise<{ gzip: boolean; stream: ReadableStream<Uint8Array> }> {
  const reader = src.getReader();
  const head: Uint8Array[] = [];
  let n = 0;
  while (n < 2) {
    const r = await reader.read();
    if (r.done) break;
    head.push(r.value);
    n += r.value.length;
  }
  const first = new Uint8Array(Math.min(n, 2));
  let o = 0;
  for (const h of head) {
    const take = h.subarray(0, first.length - o);
    first.set(take, o);
    o += take.length;
    if (o === first.length) break;
  }
  const gzip = first.length === 2 && first[0] === 0x1f && first[1] === 0x8b;
  const stream = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const next = head.shift();
      if (next) return ctl.enqueue(next);
      const r = await reader.read();
      if (r.done) ctl.close();
      else ctl.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason).catch(() => {});
    },
  });
  return { gzip, stream };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Undoes a request's `Content-Encoding` (gzip, br, zstd, xz; identity). */
export function decodeContent(
  src: ReadableStream<Uint8Array>,
  encoding: string | null,
): ReadableStream<Uint8Array> {
  const e = (encoding ?? "").trim().toLowerCase();
  if (e === "" || e === "identity") return src;
  const method = ({ gzip: "gzip", "x-gzip": "gzip", br: "br", zstd: "zstd", xz: "xz" } as const)[
    e as "gzip"
  ];
  if (!method) {
    throw new UploadRefused(
      "unsupported",
      `Content-Encoding ${JSON.stringify(e)} is not supported (use gzip, br, zstd or xz)`,
    );
  }
  return src.pipeThrough(decompressStream(method));
}
