/**
 * NAR file names as they appear in narinfo URLs: `nar/<fileHash32>.nar<ext>`,
 * the layout `nix copy --to file://` writes. Parsing is strict: anything else
 * never reaches the disk.
 */
import { type Compression, extensionOf } from "../compress/compression.ts";

const NAME = /^([0-9a-df-np-sv-z]{52})\.nar(\.zst|\.xz)?$/;

export function narFileName(fileHash32: string, compression: Compression): string {
  return `${fileHash32}.nar${extensionOf(compression)}`;
}

/** Returns the hash and compression a name stands for, or undefined if malformed. */
export function parseNarFileName(
  name: string,
): { fileHash32: string; compression: Compression } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const compression: Compression = m[2] === ".zst" ? "zstd" : m[2] === ".xz" ? "xz" : "none";
  return { fileHash32: m[1], compression };
}
