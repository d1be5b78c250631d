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

/**
 * Default levels: zstd 3 (zstd's own default). xz preset 0: per 64 KiB chunk in WASM it measured
 * 15 MB/s at ratio 5.86, against 7 MB/s (5.96) at -3 and 2 MB/s (6.24) at -6, the CLI default.
 * xz presets 7-9 need more memory (186-674 MiB) than the WASM heap allows, so 0-6 are accepted.
 */
export const DEFAULT_LEVELS: Readonly<Record<Compression, number>> = Object.freeze({
  zstd: 3,
  xz: 0,
  none: 0,
});
