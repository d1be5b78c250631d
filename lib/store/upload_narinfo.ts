/**
 * Accepting `PUT /<hash>.narinfo`: the narinfo must parse and its StorePath
 * have the hash named in the URL; then the checks of `acceptUpload` (NAR
 * stored with that NarHash and NarSize, trusted signature, references
 * cached) decide whether it is published.
 */
import { NarinfoError, parseNarinfo } from "../narinfo/mod.ts";
import type { NarInfo } from "../narinfo/mod.ts";
import { parseStorePath, StorePathError } from "../store_path/mod.ts";
import { acceptUpload } from "./accept_upload.ts";
import type { UploadContext } from "./upload_context.ts";
import { UploadRefused } from "./upload_refused.ts";
import type { ImportResult } from "./store.ts";

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
  return await acceptUpload(ctx, {
    storePath: info.storePath,
    narHash: info.narHash,
    narSize: info.narSize,
    references: info.references,
    deriver: info.deriver,
    sigs: info.sigs,
    ca: info.ca,
  });
}
