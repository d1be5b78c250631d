/**
 * The Prometheus text exposition format (version 0.0.4), as scrapers and
 * `promtool check metrics` read it:
 *
 * ```
 * # HELP arca_http_requests_total Requests answered, by route and status.
 * # TYPE arca_http_requests_total counter
 * arca_http_requests_total{route="narinfo",status="200"} 1027
 * ```
 *
 * One family is its HELP and TYPE lines and then its samples; label values
 * escape `\`, `"` and line feeds, HELP text escapes `\` and line feeds.
 * Names are checked, so a typo is an error here rather than a scrape that
 * Prometheus drops.
 *
 * @module
 */

export type MetricType = "counter" | "gauge" | "summary";

export interface Sample {
  /** Appended to the family's name: `_sum` and `_count` for a summary. */
  suffix?: string;
  labels?: Readonly<Record<string, string>>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: readonly Sample[];
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The families as one exposition text.
 *
 * @example
 * ```ts
 * import { formatMetrics } from "./prometheus_text.ts";
 * import assert from "node:assert/strict";
 * const text = formatMetrics([{
 *   name: "arca_uploads_total",
 *   help: "Uploads accepted.",
 *   type: "counter",
 *   samples: [{ labels: { kind: "nar" }, value: 3 }],
 * }]);
 * assert.equal(
 *   text,
 *   '# HELP arca_uploads_total Uploads accepted.\n# TYPE arca_uploads_total counter\n' +
 *     'arca_uploads_total{kind="nar"} 3\n',
 * );
 * ```
 */
export function formatMetrics(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  let out = "";
  for (const f of families) {
    if (!NAME.test(f.name)) throw new RangeError(`invalid metric name "${f.name}"`);
    if (seen.has(f.name)) throw new RangeError(`metric "${f.name}" is given twice`);
    seen.add(f.name);
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) {
      out += `${f.name}${s.suffix ?? ""}${formatLabels(f.name, s.labels)} ${
        formatValue(s.value)
      }\n`;
    }
  }
  return out;
}

function formatLabels(name: string, labels: Sample["labels"]): string {
  if (!labels) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL.test(k) || k.startsWith("__")) {
      throw new RangeError(`invalid label name "${k}" on metric "${name}"`);
    }
    parts.push(`${k}="${escapeLabel(v)}"`);
  }
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Go's strconv formatting for the special values; plain JavaScript numbers otherwise. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
