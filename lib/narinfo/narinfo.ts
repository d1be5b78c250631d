/**
 * The narinfo record: what a binary cache says about one store path. A real
 * one, as Nix 2.8 writes it:
 *
 * ```
 * StorePath: /nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib
 * URL: nar/04h5kkfpnf8d41d2820mx57w734wn9inz236i9gb8zd4jbgp9x8b.nar.xz
 * Compression: xz
 * FileHash: sha256:04h5kkfpnf8d41d2820mx57w734wn9inz236i9gb8zd4jbgp9x8b
 * FileSize: 440
 * NarHash: sha256:0qklgqgr2wj2v6iihmyflaql1w16gfqn3k4cxdblankzmljm90y5
 * NarSize: 2592
 * References: 149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib
 * Deriver: r55fg6s3ixbkygi1id7p8qmk862h2y1g-spike-lib.drv
 * Sig: spike-cache-1:Hv/3l55eRZZRKWRDhN3EQ5cNxxB8dW9hkOu7aDyKFJqeM0u484B1Wt2WYOSS+2uQVghynSqInvTfuUx9mM5EAA==
 * ```
 *
 * Mirrors `NarInfo` in Nix's libstore (nar-info.hh).
 */
import type { Hash } from "../hash/hash.ts";

export interface NarInfo {
  /** Full store path, e.g. `/nix/store/<hash>-<name>`. */
  storePath: string;
  /** Where the (compressed) NAR is, relative to the cache root. */
  url: string;
  /** `none`, `xz`, `zstd`, `bzip2`, ...; a narinfo without the line means `bzip2`. */
  compression: string;
  /** Hash of the compressed file; Nix never checks it. */
  fileHash?: Hash;
  fileSize?: number;
  /** Hash of the uncompressed NAR; this is what clients verify. */
  narHash: Hash;
  narSize: number;
  /** Basenames (`<hash>-<name>`), possibly including the path itself. */
  references: string[];
  /** Basename of the `.drv`, when known. */
  deriver?: string;
  /** `keyname:base64(signature)` strings, in file order. */
  sigs: string[];
  /** Content address (`fixed:...` or `text:...`), for content-addressed paths. */
  ca?: string;
}

/** A narinfo that cannot be parsed or printed; the message says what and on which line. */
export class NarinfoError extends SyntaxError {
  override name = "NarinfoError";
}
