/**
 * Receiving `PUT /nar/<fileHash>.nar[.ext]` from `nix copy --to http://…`:
 *
 * ```
 * body ─guard(size)─► Content-Encoding decode ─sha256 = name?─► decompress(ext)
 *      ─narValidator─► store.storeNar (Arca's own compression, deduplicated)
 * ```
 *
 * Nothing is published here: the stored NAR stays invisible until a narinfo
 * naming its NarHash is accepted. A NAR that is never claimed is garbage for
 * gc to reclaim. The uploaded name is remembered so that `HEAD nar/<name>`
 * (Nix's "is it there already?") answers yes afterwards, and only then.
 */
import { CompressionError, type Decompression } from "../compress/mod.ts";
import { decompressStream } from "../compress/mod.ts";
import { formatHash, parseHash } from "../hash/mod.ts";
import { NarError, narValidator } from "../nar/mod.ts";
import { checkSha256, decodeContent, guardBody, sniffGzip } from "./upload_streams.ts";
import type { UploadContext } from "./upload_context.ts";
import { UploadRefused } from "./upload_refused.ts";
import { HashMismatchError, type StoredNar, type StoreNarOptions } from "./store.ts";

const NAME = /^([0-9a-df-np-sv-z]{52})\.nar(\.[A-Za-z0-9]{1,8})?$/;
const EXTENSIONS: Record<string, Decompression> = {
  ".xz": "xz",
  ".zst": "zstd",
  ".bz2": "bzip2",
  ".br": "br",
};

/** An uploaded NAR file name: its FileHash and how it is compressed ("sniff": none or gzip). */
export interface UploadName {
  fileHash32: string;
  method: Decompression | "sniff";
}

/** Parses `<52 nix32>.nar[.xz|.zst|.bz2|.br]`; refuses other names and compressions. */
export function parseUploadName(name: string): UploadName {
  const m = NAME.exec(name);
  if (!m) {
    throw new UploadRefused(
      "bad-request",
      `nar/${name}: not a NAR file name (expected nar/<52-char nix32 hash>.nar[.xz|.zst|.bz2|.br])`,
    );
  }
  if (m[2] === undefined) return { fileHash32: m[1], method: "sniff" };
  const method = EXTENSIONS[m[2]];
  if (!method) {
    throw new UploadRefused(
      "unsupported",
      `nar/${name}: compression '${m[2].slice(1)}' is not supported` +
        ` (use compression=zstd, xz, bzip2, br or none)`,
    );
  }
  return { fileHash32: m[1], method };
}

/**
 * Stores an uploaded NAR file and remembers its name. Throws `UploadRefused`
 * for bad input. With `expect` (a client that says up front what the NAR
 * is), a NAR with another NarHash or NarSize is refused and nothing is kept.
 */
export async function uploadNar(
  ctx: UploadContext,
  name: string,
  body: ReadableStream<Uint8Array>,
  contentEncoding: string | null,
  expect?: StoreNarOptions["expect"],
): Promise<StoredNar> {
  const parsed = parseUploadName(name);
  const what = `nar/${name}`;
  let stored: StoredNar;
  try {
    let file = decodeContent(guardBody(body, ctx.maxBytes), contentEncoding)
      .pipeThrough(checkSha256(parsed.fileHash32, what));
    let method = parsed.method;
    if (method === "sniff") {
      const s = await sniffGzip(file);
      file = s.stream;
      method = s.gzip ? "gzip" : "none";
    }
    const nar = file.pipeThrough(decompressStream(method)).pipeThrough(narValidator());
    stored = await ctx.store.storeNar(nar, {
      compression: ctx.compression,
      level: ctx.level,
      expect,
    });
  } catch (e) {
    throw asRefusal(e, what);
  }
  const time = Date.now();
  await ctx.meta.putUpload(name, {
    narHash: formatHash(stored.narHash),
    narSize: stored.narSize,
    time,
  });
  await ctx.store.audit([{
    type: "UploadNar",
    time,
    nar: name,
    narSize: stored.narSize,
    storedBytes: stored.storedBytes,
  }]);
  return stored;
}

/** Whether `nar/<name>` was uploaded and its content is still stored. */
export async function hasUploadedNar(ctx: UploadContext, name: string): Promise<boolean> {
  if (!NAME.test(name)) return false;
  const rec = await ctx.meta.getUpload(name);
  if (!rec) return false;
  const found = await ctx.store.findNar(parseHash(rec.narHash));
  return found !== undefined && found.narSize === rec.narSize;
}

/** Client-caused failures become refusals; Arca's own failures pass unchanged. */
function asRefusal(e: unknown, what: string): unknown {
  if (e instanceof UploadRefused) return e;
  if (e instanceof HashMismatchError) return new UploadRefused("bad-request", e.message);
  if (e instanceof CompressionError) {
    return new UploadRefused("bad-request", `${what}: ${firstLine(e.message)}`);
  }
  if (e instanceof NarError) {
    return new UploadRefused("bad-request", `${what}: not a valid NAR: ${firstLine(e.message)}`);
  }
  return e;
}

function firstLine(s: string): string {
  return s.split("\n")[0];
}
