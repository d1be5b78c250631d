/**
 * Compression methods Arca stores chunks with, their HTTP content types and the NAR URL
 * extensions Nix uses (`nar/<filehash>.nar.xz`, `.nar.zst`; none has no extension).
 */

/** How a stored chunk (and so a served NAR) is compressed. */
export type Compression = "zstd" | "xz" | "none";

/** What `decompressStream` can read: Arca's own methods and what upstream caches serve. */
export type Decompression = Compression | "bzip2" | "gzip" | "br";

/** Corrupt, truncated or unsupported compressed data. */
export class CompressionError extends Error {
  override name = "CompressionError";
}

const CONTENT_TYPES: Record<Compression, string> = {
  zstd: "application/zstd",
  xz: "application/x-xz",
  none: "application/x-nix-nar",
};

const EXTENSIONS: Record<Compression, string> = { zstd: ".zst", xz: ".xz", none: "" };

/** The `Content-Type` of a NAR served with this compression. */
export function contentTypeOf(method: Compression): string {
  const t = CONTENT_TYPES[method];
  if (t === undefined) throw new CompressionError(`Unknown compression method: ${method}`);
  return t;
}

/** The extension after `.nar` in a NAR URL, as Nix writes it. */
export function extensionOf(method: Compression): string {
  const e = EXTENSIONS[method];
  if (e === undefined) throw new CompressionError(`Unknown compression method: ${method}`);
  return e;
}
