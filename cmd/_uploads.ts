/**
 * Wiring of uploads for `serve`: the upload context from the configuration
 * (tokens, trusted keys, signing keys, size limit) and the two pieces the
 * substituter takes: the `PUT` handler and the read-side wrapper, in front
 * of which the Cachix API (`/api/v1/cache/…`) answers its own routes.
 */
import type { Config } from "../lib/config/mod.ts";
import { DEFAULT_LEVELS } from "../lib/compress/mod.ts";
import type { CacheLayout } from "../lib/blob/cache_layout.ts";
import { storeMeta } from "../lib/store/store_meta.ts";
import { formatPublicKey, parsePublicKey, publicKeyOf } from "../lib/sign/mod.ts";
import type { Store } from "../lib/store/store.ts";
import type { UploadContext } from "../lib/store/upload_context.ts";
import {
  createUploadHandler,
  type UploadOutcome,
  withUploadReads,
} from "../lib/server/upload/mod.ts";
import { CACHIX_PREFIX, createCachixApi } from "../lib/server/cachix/mod.ts";
import { readTokenFile } from "../lib/io/key_files.ts";
import { signingKeys } from "./_context.ts";
import type { AppHandler, AppRequest } from "../lib/server/app.ts";

export interface UploadWiring {
  upload: (req: AppRequest, path: string) => Promise<Response>;
  wrap: (
    inner: AppHandler,
  ) => AppHandler;
  /** One line for the start-up message. */
  summary: string;
  /** Every accepted upload token (config and token file). */
  tokens: readonly string[];
  close(): Promise<void>;
}

export async function uploadWiring(
  config: Config,
  store: Store,
  layout: CacheLayout,
  opts: {
    anonymous: boolean;
    onPublish: () => Promise<void>;
    onOutcome?: (o: UploadOutcome) => void;
  },
): Promise<UploadWiring> {
  const tokens = [
    ...config.upload_tokens,
    ...(config.upload_tokens_file ? await readTokenFile(config.upload_tokens_file) : []),
  ];
  const meta = storeMeta(store);
  const keys = await signingKeys(config, []);
  const ctx: UploadContext = {
    store,
    meta,
    layout,
    storeDir: config.store_dir,
    compression: config.compression,
    level: config.compression === "zstd" ? config.zstd_level : DEFAULT_LEVELS[config.compression],
    trustedKeys: config.trusted_public_keys.map((k) => parsePublicKey(k)),
    signingKeys: config.sign_uploads ? keys : [],
    maxBytes: config.max_upload_size,
  };
  const cachix = createCachixApi({
    ctx,
    tokens,
    anonymous: opts.anonymous,
    readToken: config.read_token,
    ownKeys: keys.map((k) => formatPublicKey(publicKeyOf(k))),
    onPublish: opts.onPublish,
  });
  const upload = createUploadHandler({
    ctx,
    tokens,
    anonymous: opts.anonymous,
    // A path pushed by nix copy may be what a Cachix push waits for.
    onPublish: async (storePath) => {
      await opts.onPublish();
      await cachix.published(storePath);
    },
    onOutcome: opts.onOutcome,
  });
  const summary = tokens.length
    ? `uploads with ${tokens.length} token(s)`
    : opts.anonymous
    ? "uploads open to anyone (--allow-anonymous-upload)"
    : "uploads disabled (no upload token)";
  return {
    upload,
    wrap: (inner) => {
      const reads = withUploadReads(inner, {
        ctx,
        readToken: config.read_token,
        uploadTokens: tokens,
        upload,
      });
      // The Cachix API checks its own tokens (its part URLs carry none).
      return (req) => {
        const path = pathOf(req.url);
        return path.startsWith(CACHIX_PREFIX) ? cachix.handle(req, path) : reads(req);
      };
    },
    summary: config.read_token ? `${summary}; reads need a token` : summary,
    tokens,
    close: () => cachix.close(),
  };
}

function pathOf(url: string): string {
  // Skip scheme and authority, drop the query (as the substituter does).
  const s = url.indexOf("/", url.indexOf("//") + 2);
  if (s < 0) return "/";
  const q = url.indexOf("?", s);
  return q < 0 ? url.slice(s) : url.slice(s, q);
}
