/**
 * The grace period's rules, shared by the plan (predicting) and the sweeps
 * (doing): which unused NAR files work in progress still needs.
 *
 * An unused NAR file stays when an upload within the grace period stored it
 * (its narinfo may still come: Nix skips the NAR once `HEAD` says it is
 * there), or when it was stored within the grace period and not by the path
 * this run just removed: `freedAt` is the latest publish time of the paths
 * this run removed that used it. Every publish rewrites the file's time to its
 * own (kv: the NAR file record; filesystem: the file was written before its
 * narinfo), so a time after `freedAt` means it was stored again since.
 */
import { K } from "../kv/keys.ts";
import type { MetaStore, UploadRecord } from "../kv/meta_store.ts";

export function narFileHeld(
  fileHash32: string,
  storedAt: number,
  since: number,
  uploaded: Set<string>,
  freedAt?: number,
): boolean {
  if (uploaded.has(fileHash32)) return true;
  return storedAt >= since && !(freedAt !== undefined && storedAt <= freedAt);
}

/** The file hashes of the NARs uploaded (`PUT /nar/…`) since `since`. */
export async function recentUploads(meta: MetaStore, since: number): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const [, rec] of meta.scan<UploadRecord>(K.uploadPrefix)) {
    if (rec.time < since) continue;
    const fh = await meta.findNarFile(rec.narHash.replace(/^sha256:/, ""));
    if (fh) out.add(fh);
  }
  return out;
}
