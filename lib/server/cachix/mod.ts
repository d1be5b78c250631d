/**
 * The Cachix push API (`cachix push`, `watch-store`, `use` of client 1.x),
 * served under `/api/v1/cache/<name>/`: `createCachixApi` (`cachix_api.ts`).
 *
 * @module
 */
export {
  CACHIX_PREFIX,
  type CachixApi,
  type CachixOptions,
  createCachixApi,
} from "./cachix_api.ts";
