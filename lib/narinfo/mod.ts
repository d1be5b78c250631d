/** narinfo and nix-cache-info: parse, print, and the fingerprint signatures cover. */
export { type NarInfo, NarinfoError } from "./narinfo.ts";
export { parseNarinfo } from "./parse_narinfo.ts";
export { formatNarinfo } from "./format_narinfo.ts";
export { fingerprint } from "./fingerprint.ts";
export {
  type CacheInfo,
  DEFAULT_CACHE_PRIORITY,
  formatCacheInfo,
  parseCacheInfo,
} from "./cache_info.ts";
