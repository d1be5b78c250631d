/** What the Cachix route handlers share (built once by `createCachixApi`). */
import type { PublicKey } from "../../sign/mod.ts";
import type { MultipartUploads, PartCompression } from "../../store/multipart_uploads.ts";
import type { UploadContext } from "../../store/upload_context.ts";
import type { WaitingPaths } from "../../store/waiting_paths.ts";
import type { AppRequest } from "../app.ts";

export interface CachixDeps {
  ctx: UploadContext;
  uploads: MultipartUploads;
  waiting: WaitingPaths;
  /** `publicSigningKeys` of the cache info: what Nix should trust for this cache. */
  publicKeys: string[];
  /** Keys a bare `cSig` may be named after: the trusted keys, then Arca's own. */
  sigKeys: PublicKey[];
  /** Used when `POST multipart-nar` names no compression. */
  preferred: PartCompression;
  /** No read token: anyone may read. */
  isPublic: boolean;
}

/** The caller's rights, in the client's words: `Write` for an upload token, else `Read`. */
export type Permission = "Write" | "Read";

/** One request, as the handlers see it. */
export interface CachixCall {
  req: AppRequest;
  /** The cache name from the path (Arca is one cache: any name reaches it). */
  name: string;
  /** The path segments after the name. */
  rest: string[];
  query: URLSearchParams;
  /** `scheme://host` the client reached Arca at. */
  origin: string;
  permission: Permission;
}
