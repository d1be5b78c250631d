/**
 * Splits a listen address `host:port` into the parts `Deno.serve` takes.
 * IPv6 hosts are written in brackets (`[::1]:5555`), as in URLs, so the
 * last colon is never ambiguous.
 *
 * @module
 */

/** A parsed listen address; `hostname` carries no brackets. */
export interface Bind {
  hostname: string;
  port: number;
}

const V6 = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/;
const NAMED = /^([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;
const DOTTED = /^[0-9.]+$/;

/**
 * Parses `host:port`; returns undefined when it is not a valid address.
 * Port 0 is allowed (the system picks a free port, handy in tests).
 *
 * @example
 * ```ts
 * import { parseBind } from "./parse_bind.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseBind("[::1]:5555"), { hostname: "::1", port: 5555 });
 * assert.equal(parseBind("localhost"), undefined);
 * ```
 */
export function parseBind(s: string): Bind | undefined {
  const v6 = V6.exec(s);
  if (v6) {
    if (!validV6(v6[1])) return undefined;
    return withPort(v6[1], v6[2]);
  }
  const named = NAMED.exec(s);
  if (!named) return undefined;
  const host = named[1];
  // All digits and dots must be a real dotted quad; "1.2.3" or "300.0.0.1" are typos.
  if (DOTTED.test(host) && !validV4(host)) return undefined;
  return withPort(host, named[2]);
}

function withPort(hostname: string, port: string): Bind | undefined {
  const n = Number(port);
  return n <= 65535 ? { hostname, port: n } : undefined;
}

function validV4(host: string): boolean {
  const parts = host.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255 && (p === "0" || p[0] !== "0"));
}

function validV6(host: string): boolean {
  // The URL parser knows every IPv6 spelling (compression, embedded IPv4).
  try {
    return new URL(`http://[${host}]/`).hostname !== "";
  } catch {
    return false;
  }
}
