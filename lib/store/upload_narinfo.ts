/**
 * Accepting `PUT /<hash>.narinfo`: the client's claims are checked against
 * what Arca holds before anything becomes visible.
 *
 * - it parses, and its StorePath has the hash named in the URL;
 * - a NAR with its NarHash and NarSize is stored (uploaded before, or known);
 * - with `trusted_public_keys`, one of its signatures verifies;
 * - every reference is published already (the closure invariant).
 *
 * Then it is published in Arca's own form (URL, Compression, FileHash,
 * FileSize rewritten: no signature covers them), its signatures kept and
 * Arca's added. A path that is already cached is left as it is.
 */
import { formatHash } from "../hash/mod.ts";
import { NarinfoError, parseNarinfo } from "../narinfo/mod.ts";
import type { NarInfo } from "../narinfo/mod.ts";
import { verifyNarinfo } from "../sign/mod.ts";
import { parseStorePath, StorePathError } from "../store_path/mod.ts";
import { missingReferences } from "./publish_helpers.ts";
import type { UploadContext } from "./upload_context.ts";
import { UploadRefused } from "./upload_refused.ts";
import {
  HashMismatchError,
  type ImportResult,
  MissingReferencesError,
  NarFileGoneError,
} from "./store.ts";

export async function uploadNarinfo(
  ctx: UploadContext,
  hashPart: string,
  text: string,
): Promise<ImportResult> {
  const what = `${hashPart}.narinfo`;
  let info: NarInfo;
  try {
    info = parseNarinfo(text, ctx.storeDir);
    if (parseStorePath(info.storePath, ctx.storeDir).hashPart !== hashPart) {
      throw new UploadRefused(
        "bad-request",
        `${what}: its StorePath ${info.storePath} has another hash`,
      );
    }
  } catch (e) {
    if (e instanceof NarinfoError || e instanceof StorePathError) {
      throw new UploadRefused("bad-request", `${what}: ${e.message}`);
    }
    throw e;
  }
  const existing = await ctx.store.getNarinfo(hashPart);
  if (existing) return { status: "exists", narinfo: existing, storedBytes: 0 };

  if (info.narHash.algo !== "sha256") {
    throw new UploadRefused("bad-request", `${what}: NarHash must be sha256`);
  }
  const stored = await ctx.store.findNar(info.narHash);
  if (!stored) {
    throw new UploadRefused(
      "conflict",
      `${info.storePath}: no NAR with NarHash ${formatHash(info.narHash)} was uploaded` +
        ` (upload nar/… first)`,
    );
  }
  if (stored.narSize !== info.narSize) {
    throw new UploadRefused(
      "bad-request",
      `${info.storePath}: NarSize ${info.narSize} does not match the uploaded NAR's ${stored.narSize}`,
    );
  }
  if (ctx.trustedKeys.length && !verifyNarinfo(info, ctx.trustedKeys, ctx.storeDir)) {
    throw new UploadRefused(
      "untrusted",
      `${info.storePath}: no signature by a trusted key (${
        ctx.trustedKeys.map((k) => k.name).join(", ")
      }); sign it, e.g. nix copy --to '…?secret-key=FILE'`,
    );
  }
  const meta = {
    storePath: info.storePath,
    narHash: info.narHash,
    narSize: info.narSize,
    references: info.references,
    deriver: info.deriver,
    sigs: info.sigs,
    ca: info.ca,
  };
  try {
    const missing = await missingReferences(ctx.store, meta);
    if (missing.length) throw new MissingReferencesError(meta.storePath, missing);
    return await ctx.store.publish(meta, stored, { keys: ctx.signingKeys, event: "Upload" });
  } catch (e) {
    if (e instanceof MissingReferencesError) {
      throw new UploadRefused(
        "conflict",
        `${info.storePath}: references not in the cache yet: ${e.missing.join(", ")}`,
      );
    }
    if (e instanceof HashMismatchError) throw new UploadRefused("bad-request", e.message);
    if (e instanceof NarFileGoneError) throw new UploadRefused("conflict", e.message);
    throw e;
  }
}
