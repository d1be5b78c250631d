/**
 * Tokens for uploads and private reads. Nix sends HTTP Basic only (from
 * netrc or `http://user:TOKEN@host`), preemptively; other clients may send
 * `Authorization: Bearer TOKEN`. The user name is ignored. Comparison hashes
 * both sides to equal-length digests and compares those in constant time,
 * and every configured token is tried, so timing tells nothing about which
 * one (or how much of one) matched.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { AppRequest } from "../app.ts";

/** The token a request carries (Basic password or Bearer), or undefined. */
export function credentialOf(req: AppRequest): string | undefined {
  const h = req.headers.get("authorization");
  if (!h) return undefined;
  const sp = h.indexOf(" ");
  if (sp < 0) return undefined;
  const scheme = h.slice(0, sp).toLowerCase();
  const value = h.slice(sp + 1).trim();
  if (scheme === "bearer") return value || undefined;
  if (scheme !== "basic") return undefined;
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(value), (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/** True when `given` equals one of `tokens`, in time independent of where they differ. */
export function tokenMatches(given: string | undefined, tokens: readonly string[]): boolean {
  if (given === undefined) return false;
  const g = digest(given);
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(g, digest(t)) || ok;
  return ok;
}

function digest(s: string): Uint8Array {
  return createHash("sha256").update(s).digest();
}

/** The 401 both uploads and private reads answer; Nix then reads netrc / the URL's user:pass. */
export function unauthorized(reason: string): Response {
  return new Response(`${reason}\n`, {
    status: 401,
    headers: {
      "www-authenticate": 'Basic realm="arca"',
      "content-type": "text/plain",
      "cache-control": "no-store",
    },
  });
}
