/**
 * Why an upload was refused, as a kind the HTTP layer maps to a status
 * (`lib/server/upload/refusal.ts`) and a one-line reason for the client.
 * Anything else thrown while receiving an upload is Arca's own failure.
 */

/** The client's mistake, by kind: each maps to one 4xx status. */
export type RefusalKind =
  | "bad-request" // malformed name, body or narinfo; body ended early
  | "unsupported" // a compression or content encoding Arca cannot read
  | "too-large" // over max_upload_size
  | "untrusted" // no signature by a trusted key
  | "conflict" // references not cached yet, NAR not uploaded
  | "not-found" // an upload path Arca does not know
  | "busy"; // too many uploads at once: try again later

export class UploadRefused extends Error {
  override name = "UploadRefused";
  constructor(readonly kind: RefusalKind, message: string) {
    super(message);
  }
}

/** A path refused only because some of its references are not published yet. */
export class ReferencesMissing extends UploadRefused {
  override name = "ReferencesMissing";
  constructor(readonly storePath: string, readonly missing: string[]) {
    super("conflict", `${storePath}: references not in the cache yet: ${missing.join(", ")}`);
  }
}
