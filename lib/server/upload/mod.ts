/**
 * Uploads over HTTP: `PUT` routes (`createUploadHandler`, plugged into the
 * substituter's `upload` hook), the read-side additions and private-cache
 * check (`withUploadReads`), named gc roots (`gcRootsRoute`), tokens
 * (`auth.ts`) and the one error → status map (`refusal.ts`).
 *
 * @module
 */
export { createUploadHandler, type UploadOptions, type UploadOutcome } from "./upload_handler.ts";
export { type UploadReadsOptions, withUploadReads } from "./upload_reads.ts";
export { credentialOf, tokenMatches } from "./auth.ts";
export { gcRootsRoute, parseRootPaths } from "./gcroots_route.ts";
