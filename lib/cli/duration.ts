/** Human durations and sizes on the command line: `30d`, `1h30m`; `10G`, `500M`. */

const UNITS_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses `30d`, `7d`, `24h`, `1h30m`, `90s` into milliseconds; throws `RangeError` naming the forms. */
export function parseDuration(s: string): number {
  const re = /(\d+)([smhdw])/gy;
  let total = 0;
  let matched = 0;
  for (const m of s.matchAll(re)) {
    total += Number(m[1]) * UNITS_MS[m[2]];
    matched += m[0].length;
  }
  if (s.length === 0 || matched !== s.length) {
    throw new RangeError(
      `invalid duration '${s}': use a number with s, m, h, d or w, e.g. 30d, 24h, 1h30m`,
    );
  }
  return total;
}

const UNITS_BYTES: Record<string, number> = {
  "": 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
};

/** Parses `100K`, `500M`, `10G`, `1T` (binary units) or plain bytes. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(s.trim());
  if (!m) {
    throw new RangeError(`invalid size '${s}': use a number with K, M, G or T, e.g. 10G, 500M`);
  }
  return Math.round(Number(m[1]) * UNITS_BYTES[m[2].toUpperCase()]);
}

/** `1.5 GiB`-style rendering for humans. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
