/**
 * `Range: bytes=…` for one range (RFC 9110 §14). Several ranges are answered
 * with the whole body, which the RFC allows.
 */
export type RangeResult =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number } // end exclusive
  | { kind: "unsatisfiable" };

export function parseRange(header: string | null, size: number): RangeResult {
  if (header === null) return { kind: "full" };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) {
    // Malformed or multi-range: ignore the header.
    return { kind: "full" };
  }
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - n), end: size };
  }
  const start = Number(m[1]);
  const last = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || last < start) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: last + 1 };
}
