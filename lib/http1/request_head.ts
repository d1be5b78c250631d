/**
 * Parses an HTTP/1.x request head (request line and header fields, RFC 9112)
 * strictly: anything a proxy and Arca could read differently (request
 * smuggling) is refused with 400, not guessed at.
 */
import { HttpError } from "./http_error.ts";

export interface RequestHead {
  method: string;
  /** The request target as sent: origin form (`/path?query`) or absolute form. */
  target: string;
  /** The path of the target (no query), always starting with `/`. */
  path: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** Field names lowercased, in order; values trimmed. Shared between heads: do not change. */
  headers: [string, string][];
  /** Declared body length; -1 when there is none (or it is chunked). */
  contentLength: number;
  chunked: boolean;
  /** Whether the connection may carry another request after this one. */
  keepAlive: boolean;
  expectContinue: boolean;
  host: string;
}

export const MAX_HEADERS = 100;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text, space and tab; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
const utf8 = new TextDecoder();

/**
 * The whole head's syntax in one expression (one native match instead of a
 * split and a test per line: this runs on every request). Captures: method,
 * target, HTTP minor version, the header lines with their CRLFs.
 */
const WELL_FORMED = new RegExp(
  "^([!#$%&'*+\\-.^_`|~0-9A-Za-z]+) ([\\x21-\\x7e\\x80-\\xff]+) HTTP/1\\.([01])\\r\\n" +
    "((?:[!#$%&'*+\\-.^_`|~0-9A-Za-z]+:[\\t\\x20-\\x7e\\x80-\\xff]*\\r\\n)*)\\r\\n$",
);

/** Parses `bytes`, the head up to and including its final CRLF CRLF. */
export function parseRequestHead(bytes: Uint8Array): RequestHead {
  // Heads are ASCII in practice, and the native UTF-8 decoder is 3x faster
  // than building a latin1 string. Anything else is redone as latin1, which
  // keeps every byte as one char (obs-text survives, nothing fails to
  // decode): multi-byte sequences shorten the text, and a stray byte becomes
  // U+FFFD, which the pattern refuses.
  let text = utf8.decode(bytes);
  if (text.length !== bytes.length) text = latin1(bytes);
  let m = WELL_FORMED.exec(text);
  if (!m && text.includes("\ufffd")) m = WELL_FORMED.exec(text = latin1(bytes));
  if (!m) explainMalformed(text);
  const method = m[1];
  const target = m[2];
  const minor = m[3] === "1" ? 1 : 0;
  const block = m[4];

  const headers: [string, string][] = [];
  let contentLength = -1;
  let transferEncoding: string | undefined;
  let connection = "";
  let expect: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < block.length;) {
    const e = block.indexOf("\r\n", i);
    const colon = block.indexOf(":", i);
    const name = block.slice(i, colon);
    const value = block.slice(colon + 1, e).trim();
    i = e + 2;
    if (headers.length === MAX_HEADERS) {
      throw new HttpError(431, `more than ${MAX_HEADERS} header fields`);
    }
    const lower = name.toLowerCase();
    headers.push([lower, value]);
    switch (lower) {
      case "content-length": {
        const n = parseContentLength(value);
        if (contentLength >= 0 && n !== contentLength) {
          throw new HttpError(400, "conflicting Content-Length headers");
        }
        contentLength = n;
        break;
      }
      case "transfer-encoding":
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        break;
      case "connection":
        connection += `,${value.toLowerCase()}`;
        break;
      case "expect":
        expect = value.toLowerCase();
        break;
      case "host":
        if (host !== undefined) throw new HttpError(400, "more than one Host header");
        host = value;
        break;
    }
  }

  let chunked = false;
  if (transferEncoding !== undefined) {
    if (minor === 0) throw new HttpError(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (contentLength >= 0) {
      throw new HttpError(400, "both Content-Length and Transfer-Encoding are set");
    }
    if (transferEncoding.trim().toLowerCase() !== "chunked") {
      throw new HttpError(501, `Transfer-Encoding "${transferEncoding}" is not supported`);
    }
    chunked = true;
  }
  if (minor === 1 && host === undefined) throw new HttpError(400, "HTTP/1.1 request without Host");
  if (expect !== undefined && expect !== "100-continue") {
    throw new HttpError(417, `Expect "${expect}" is not supported`);
  }
  let keepAlive = minor === 1;
  if (connection !== "") {
    const tokens = connection.split(",").map((t) => t.trim());
    keepAlive = minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
  }
  return {
    method,
    target,
    path: pathOfTarget(target),
    minor,
    headers,
    contentLength,
    chunked,
    keepAlive,
    expectContinue: expect === "100-continue" && minor === 1,
    host: host ?? "",
  };
}

/** Says what is wrong with a head WELL_FORMED refused: always throws. */
function explainMalformed(text: string): never {
  const lines = text.split("\r\n");
  // The head ends with an empty line, then the split leaves one more "".
  if (lines.length < 3 || lines.at(-1) !== "" || lines.at(-2) !== "") {
    throw new HttpError(400, "request head does not end with an empty line");
  }
  parseRequestLine(lines[0]);
  for (let k = 1; k < lines.length - 2; k++) {
    const line = lines[k];
    if (line.length === 0 || line[0] === " " || line[0] === "\t") {
      throw new HttpError(400, `header line ${k}: folded or empty header lines are not accepted`);
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) {
      throw new HttpError(400, `header line ${k}: not a valid "name: value" field`);
    }
    if (!FIELD_VALUE.test(line.slice(colon + 1))) {
      throw new HttpError(400, `header line ${k}: control characters in the value of ${name}`);
    }
  }
  // A line break inside a line (a bare CR or LF) is what is left.
  throw new HttpError(400, "malformed request head (stray CR or LF)");
}

function parseRequestLine(line: string): [string, string, 0 | 1] {
  const a = line.indexOf(" ");
  const b = line.lastIndexOf(" ");
  if (a <= 0 || b <= a + 1) throw new HttpError(400, "malformed request line");
  const method = line.slice(0, a);
  const target = line.slice(a + 1, b);
  const version = line.slice(b + 1);
  if (!TOKEN.test(method)) throw new HttpError(400, "malformed method in the request line");
  if (!TARGET.test(target)) throw new HttpError(400, "malformed request target");
  if (version === "HTTP/1.1") return [method, target, 1];
  if (version === "HTTP/1.0") return [method, target, 0];
  if (/^HTTP\/\d\.\d$/.test(version)) {
    throw new HttpError(505, `${version} is not supported (HTTP/1.0 and 1.1 are)`);
  }
  throw new HttpError(400, "malformed HTTP version in the request line");
}

function parseContentLength(value: string): number {
  // Only plain digits: no sign, no list ("5, 5"), bounded so it stays an exact number.
  if (!/^\d{1,15}$/.test(value)) throw new HttpError(400, `invalid Content-Length "${value}"`);
  return Number(value);
}

/** The path part of an origin-form or absolute-form target; "" when it has none. */
export function pathOfTarget(target: string): string {
  let s = 0;
  if (target[0] !== "/") {
    const scheme = /^https?:\/\/[^/?#]*/i.exec(target);
    if (!scheme) {
      // "*" (OPTIONS) and authority form (CONNECT): no path to route on.
      return "";
    }
    s = scheme[0].length;
    if (s === target.length) return "/";
  }
  const q = target.indexOf("?", s);
  const path = q < 0 ? target.slice(s) : target.slice(s, q);
  return path[0] === "/" ? path : "";
}

export function latin1(bytes: Uint8Array): string {
  let s = "";
  // In slices: fromCharCode.apply has an argument count limit.
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}
