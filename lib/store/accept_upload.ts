/**
 * The checks every pushed path passes before it becomes visible, whichever
 * protocol brought it (`PUT <hash>.narinfo` from `nix copy`, the completion
 * of a Cachix multipart upload):
 *
 * - a NAR with its NarHash (sha256) and NarSize is stored (uploaded before, or known);
 * - with `trusted_public_keys`, one of its signatures verifies;
 * - every reference is published already (the closure invariant).
 *
 * Then it is published in Arca's own form (URL, Compression, FileHash,
 * FileSize are Arca's: no signature covers them), its signatures kept and
 * Arca's added. A path that is already cached is left as it is.
 */
import { formatHash } from "../hash/mod.ts";
import type { PathMeta } from "../narinfo/path_meta.ts";
import { verifyNarinfo } from "../sign/mod.ts";
import { parseStorePath } from "../store_path/mod.ts";
import { missingReferences } from "./publish_helpers.ts";
import type { UploadContext } from "./upload_context.ts";
import { ReferencesMissing, UploadRefused } from "./upload_refused.ts";
import {
  HashMismatchError,
  type ImportResult,
  MissingReferencesError,
  NarFileGoneError,
} from "./store.ts";

/** How to sign for `nix copy`, the default advice when no signature is trusted. */
const NIX_COPY_HINT = "sign it, e.g. nix copy --to '…?secret-key=FILE'";

/**
 * Publishes `meta` after the checks above; throws `UploadRefused` for the
 * client's mistakes (`ReferencesMissing` when only references are lacking).
 * `signHint` is the advice given with an "untrusted" refusal.
 */
export async function acceptUpload(
  ctx: UploadContext,
  meta: PathMeta,
  signHint = NIX_COPY_HINT,
): Promise<ImportResult> {
  const hashPart = parseStorePath(meta.storePath, ctx.storeDir).hashPart;
  const existing = await ctx.store.getNarinfo(hashPart);
  if (existing) return { status: "exists", narinfo: existing, storedBytes: 0 };

  if (meta.narHash.algo !== "sha256") {
    throw new UploadRefused("bad-request", `${meta.storePath}: NarHash must be sha256`);
  }
  const stored = await ctx.store.findNar(meta.narHash);
  if (!stored) {
    throw new UploadRefused(
      "conflict",
      `${meta.storePath}: no NAR with NarHash ${formatHash(meta.narHash)} was uploaded` +
        ` (upload nar/… first)`,
    );
  }
  if (stored.narSize !== meta.narSize) {
    throw new UploadRefused(
      "bad-request",
      `${meta.storePath}: NarSize ${meta.narSize} does not match the uploaded NAR's ${stored.narSize}`,
    );
  }
  if (ctx.trustedKeys.length && !verifyNarinfo(meta, ctx.trustedKeys, ctx.storeDir)) {
    throw new UploadRefused(
      "untrusted",
      `${meta.storePath}: no signature by a trusted key (${
        ctx.trustedKeys.map((k) => k.name).join(", ")
      }); ${signHint}`,
    );
  }
  try {
    const missing = await missingReferences(ctx.store, meta);
    if (missing.length) throw new ReferencesMissing(meta.storePath, missing);
    return await ctx.store.publish(meta, stored, { keys: ctx.signingKeys, event: "Upload" });
  } catch (e) {
    // publish checks the references again in its commit: one may have gone meanwhile.
    if (e instanceof MissingReferencesError) throw new ReferencesMissing(e.storePath, e.missing);
    if (e instanceof HashMismatchError) throw new UploadRefused("bad-request", e.message);
    if (e instanceof NarFileGoneError) throw new UploadRefused("conflict", e.message);
    throw e;
  }
}
