/**
 * Where a cache keeps a path's NAR listing and a derivation's build log, by
 * name: under the cache dir (logs in `CacheLayout.logs`) or, for a
 * filesystem backend on S3, as keys of its bucket beside the narinfos (the
 * layout `nix copy --to file://` writes). Uploads and the post-build hook
 * write them (`upload_files.ts`); gc lists and removes them with their
 * paths (`lib/gc/side_files.ts`): one set of names for both.
 *
 * @module
 */

/** A listing under the cache dir. */
export function localListingName(hashPart: string): string {
  return `listings/${hashPart}.ls`;
}

/** A listing in the bucket. */
export function bucketListingName(hashPart: string): string {
  return `${hashPart}.ls`;
}

/** Where the bucket's build logs are. */
export const BUCKET_LOG_PREFIX = "log/";

/** A build log in the bucket. */
export function bucketLogName(drv: string): string {
  return `${BUCKET_LOG_PREFIX}${drv}`;
}
