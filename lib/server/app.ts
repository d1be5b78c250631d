/**
 * What the HTTP server and Arca's handlers exchange. Requests and responses
 * may be the standard `Request` and `Response`, but the server builds a
 * lighter request, and hot routes answer with a `Reply`: constructing a
 * `Request` (URL parsing, a Headers object, webidl checks) and reading a
 * `Response`'s headers (an iterator through webidl, sorted) made most of the
 * garbage of a NAR request, ~30 KB each (measured, 145 KB NARs at c=16).
 */
import type { RequestHead } from "../http1/mod.ts";
import type { FileBody } from "../blob/file_body.ts";

/** The parts of `Request` Arca's handlers use; a real `Request` is one too. */
export interface AppRequest {
  readonly method: string;
  /** Absolute: `http://<host><target>`. */
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  readonly body: ReadableStream<Uint8Array> | null;
  /**
   * The path the answering cache is served under: absent (or "") for the
   * default cache at `/`, `/team` for a `[[caches]]` entry (`cache_mounts.ts`,
   * which takes it off `url`). URLs handed back to clients start with it.
   */
  readonly base?: string;
}

/** A response as status, fields and body, for routes that run often. */
export interface Reply {
  readonly status: number;
  /**
   * Field names in lowercase; a CR, LF or NUL anywhere makes the server
   * answer 500 instead. Content-Length is set by the server from a byte body.
   */
  readonly fields: readonly (readonly [string, string])[];
  /** A `FileBody` is sent without copying where the server can (sendfile). */
  readonly body: ReadableStream<Uint8Array> | Uint8Array | FileBody | null;
}

export type AppResponse = Response | Reply;

export type AppHandler = (req: AppRequest) => AppResponse | Promise<AppResponse>;

export function reply(
  status: number,
  fields: readonly (readonly [string, string])[],
  body: Reply["body"] = null,
): Reply {
  return { status, fields, body };
}

const HOST = /^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** An `AppRequest` over a parsed head: fields are looked up in its list, nothing is copied. */
export class HeadRequest implements AppRequest {
  readonly headers: { get(name: string): string | null };
  #url: string | undefined;

  constructor(
    private head: RequestHead,
    readonly body: ReadableStream<Uint8Array> | null,
  ) {
    const list = head.headers;
    this.headers = {
      // Like Headers.get: every field of that name, joined with ", ".
      get(name: string): string | null {
        const want = name.toLowerCase();
        let out: string | null = null;
        for (const [k, v] of list) {
          if (k === want) out = out === null ? v : `${out}, ${v}`;
        }
        return out;
      },
    };
  }

  get method(): string {
    return this.head.method;
  }

  get url(): string {
    const { target, host } = this.head;
    return this.#url ??= target[0] === "/"
      ? `http://${HOST.test(host) ? host : "localhost"}${target}`
      : target;
  }
}
