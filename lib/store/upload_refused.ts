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
  | "not-found"; // an upload path Arca does not know

export class UploadRefused extends Error {
  override name = "UploadRefused";
  constructor(readonly kind: RefusalKind, message: string) {
    super(message);
  }
}
