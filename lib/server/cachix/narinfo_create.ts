/**
 * The body that completes a Cachix multipart upload, checked field by field
 * (names and types as cachix-api 1.11.1 declares them, with Aeson's default
 * encoding: `CompletedMultipartUpload` in Cachix/Types/MultipartUpload.hs,
 * `NarInfoCreate` in Cachix/Types/NarInfoCreate.hs; the client fills them
 * in `newNarInfoCreate`, Cachix/Client/Push.hs):
 *
 * ```json
 * {"parts": [{"partNumber": 1, "eTag": "\"9e107d9d372bb6826bd81d3542a419d6\""}],
 *  "narInfoCreate": {
 *    "cStoreHash": "0c7hc4qmzj1c4xmqzswb1q4k3xajpi8l", "cStoreSuffix": "hello-2.12",
 *    "cNarHash": "sha256:1b7rq…", "cNarSize": 226560,
 *    "cFileHash": "<sha256 of the compressed file, base16>", "cFileSize": 50264,
 *    "cReferences": ["9y6lj4dljbgnb6hmx5p1ma0i9mbyzf58-glibc-2.35"],
 *    "cDeriver": "<basename>.drv or unknown-deriver", "cSig": "<base64, no key name> or null"}}
 * ```
 *
 * Every string is checked against its format before it is used, so nothing
 * the client sends can smuggle a line into a narinfo or a path onto disk.
 */
import { decodeBase64, decodeHex, encodeNix32 } from "../../encoding/mod.ts";
import { type Hash, parseHash } from "../../hash/mod.ts";
import { fingerprint } from "../../narinfo/fingerprint.ts";
import type { PathMeta } from "../../narinfo/path_meta.ts";
import { type PublicKey, verifyMessage } from "../../sign/mod.ts";
import { isValidHashPart, parseStorePath, parseStorePathBase } from "../../store_path/mod.ts";
import type { ListedPart } from "../../store/multipart_uploads.ts";
import { UploadRefused } from "../../store/upload_refused.ts";

/** What `narInfoCreate` claims about a path and its compressed NAR file. */
export interface NarInfoClaim {
  storePath: string;
  hashPart: string;
  narHash: Hash;
  narSize: number;
  /** nix32 of the sha256 of the compressed file (the client sends base16). */
  fileHash32: string;
  fileSize: number;
  /** basenames */
  references: string[];
  deriver?: string;
  /** The bare base64 signature (`cSig`), without a key name. */
  sig?: string;
}

export interface CompletedUpload {
  /** null when the client lost an ETag (`sequenceA` of the parts in S3.hs). */
  parts: ListedPart[] | null;
  claim: NarInfoClaim;
}

/** Checks a parsed JSON body; throws a "bad-request" `UploadRefused` naming the field. */
export function parseCompletedUpload(v: unknown, storeDir: string): CompletedUpload {
  const o = object(v, "the body");
  return {
    parts: parseParts(o.parts),
    claim: parseNarInfoCreate(o.narInfoCreate, storeDir),
  };
}

function parseParts(v: unknown): ListedPart[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) bad("parts", "must be a list or null");
  return v.map((p, i) => {
    const o = object(p, `parts[${i}]`);
    return {
      partNumber: count(o.partNumber, `parts[${i}].partNumber`, 1),
      eTag: string(o.eTag, `parts[${i}].eTag`, 256),
    };
  });
}

export function parseNarInfoCreate(v: unknown, storeDir: string): NarInfoClaim {
  const o = object(v, "narInfoCreate");
  const f = (name: string) => `narInfoCreate.${name}`;
  const hashPart = string(o.cStoreHash, f("cStoreHash"), 32);
  if (!isValidHashPart(hashPart)) bad(f("cStoreHash"), "is not a store path hash");
  const suffix = string(o.cStoreSuffix, f("cStoreSuffix"), 211);
  const storePath = `${storeDir}/${hashPart}-${suffix}`;
  attempt(f("cStoreSuffix"), () => parseStorePath(storePath, storeDir));
  const narHash = attempt(f("cNarHash"), () => parseHash(string(o.cNarHash, f("cNarHash"), 200)));
  if (narHash.algo !== "sha256") bad(f("cNarHash"), "must be a sha256 hash");
  const fileHex = string(o.cFileHash, f("cFileHash"), 64);
  if (!/^[0-9a-fA-F]{64}$/.test(fileHex)) bad(f("cFileHash"), "must be 64 hex digits (sha256)");
  const refsIn = o.cReferences;
  if (!Array.isArray(refsIn)) bad(f("cReferences"), "must be a list of store path basenames");
  const references = refsIn.map((r, i) => {
    const what = `${f("cReferences")}[${i}]`;
    const base = string(r, what, 256);
    attempt(what, () => parseStorePathBase(base));
    return base;
  });
  const drv = string(o.cDeriver, f("cDeriver"), 256);
  let deriver: string | undefined;
  if (drv !== "unknown-deriver") {
    attempt(f("cDeriver"), () => parseStorePathBase(drv));
    if (!drv.endsWith(".drv")) bad(f("cDeriver"), "must name a .drv or be unknown-deriver");
    deriver = drv;
  }
  let sig: string | undefined;
  if (o.cSig !== null && o.cSig !== undefined) {
    sig = string(o.cSig, f("cSig"), 100);
    let bytes: Uint8Array | undefined;
    try {
      bytes = decodeBase64(sig);
    } catch { /* reported below */ }
    if (bytes?.length !== 64) bad(f("cSig"), "must be a base64 ed25519 signature (64 bytes)");
  }
  return {
    storePath,
    hashPart,
    narHash,
    narSize: count(o.cNarSize, f("cNarSize"), 1),
    fileHash32: encodeNix32(decodeHex(fileHex.toLowerCase())),
    fileSize: count(o.cFileSize, f("cFileSize"), 1),
    references,
    deriver,
    sig,
  };
}

/**
 * The path's metadata for `acceptUpload`. `cSig` carries no key name, so it
 * is named after the key in `keys` it verifies under (the trusted keys and
 * Arca's own); a signature that verifies under none is left out, and the
 * trust check then refuses the path if trusted keys are configured.
 */
export function claimMeta(claim: NarInfoClaim, keys: PublicKey[], storeDir: string): PathMeta {
  const sigs: string[] = [];
  if (claim.sig) {
    const fp = fingerprint(claim, storeDir);
    const k = keys.find((k) => verifyMessage([k], fp, `${k.name}:${claim.sig}`));
    if (k) sigs.push(`${k.name}:${claim.sig}`);
  }
  return {
    storePath: claim.storePath,
    narHash: claim.narHash,
    narSize: claim.narSize,
    references: claim.references,
    deriver: claim.deriver,
    sigs,
  };
}

// deno-lint-ignore no-explicit-any
function object(v: unknown, what: string): Record<string, any> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad(what, "must be a JSON object");
  return v as Record<string, unknown>;
}

function string(v: unknown, what: string, max: number): string {
  if (typeof v !== "string") bad(what, "must be a string");
  if (v.length > max) bad(what, `is longer than ${max} characters`);
  return v;
}

function count(v: unknown, what: string, min: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    bad(what, `must be a whole number of at least ${min}`);
  }
  return v;
}

function attempt<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new UploadRefused("bad-request", `${what}: ${(e as Error).message}`);
  }
}

function bad(what: string, why: string): never {
  throw new UploadRefused("bad-request", `${what} ${why}`);
}
