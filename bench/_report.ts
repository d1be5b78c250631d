/**
 * One result row (a metric measured for Arca and its baseline) and the
 * markdown report: the table of medians with min-max, the Arca/baseline
 * ratio, the target and noise labels, plus machine facts and notes.
 */
import { markdownTable, num, type Stats } from "./_lib.ts";

export interface Row {
  workload: string;
  metric: string;
  /** Which way is better for this metric; the ratio is always Arca/baseline. */
  better: "higher" | "lower";
  arca: Stats;
  base: Stats;
  baseline: string;
  /** Target for the ratio: at least this when higher is better, at most when lower is. */
  target?: number;
  /** Target as an absolute ceiling on Arca's median (e.g. peak RSS MiB). */
  absoluteMax?: number;
}

function cell(s: Stats): string {
  if (s.runs === 0) return "-";
  const range = s.runs > 1 ? ` (${num(s.min)}-${num(s.max)})` : "";
  return `${num(s.median)}${range}${s.noisy ? " noisy" : ""}`;
}

function verdict(r: Row, ratio: number): string {
  const parts: string[] = [];
  if (r.target !== undefined) {
    const ok = r.better === "higher" ? ratio >= r.target : ratio <= r.target;
    parts.push(`${ok ? "meets" : "MISSES"} ${r.better === "higher" ? ">=" : "<="} ${r.target}x`);
  }
  if (r.absoluteMax !== undefined) {
    parts.push(`${r.arca.median < r.absoluteMax ? "meets" : "MISSES"} < ${r.absoluteMax}`);
  }
  return parts.join(", ");
}

export function resultsTable(rows: Row[]): string {
  return markdownTable(
    [
      "workload",
      "metric",
      "better",
      "Arca median (min-max)",
      "baseline median (min-max)",
      "Arca/baseline",
      "target",
    ],
    rows.map((r) => {
      const ratio = r.arca.median / r.base.median;
      return [
        r.workload,
        r.metric,
        r.better === "higher" ? "higher" : "lower",
        cell(r.arca),
        `${cell(r.base)} [${r.baseline}]`,
        Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "-",
        verdict(r, ratio),
      ];
    }),
  );
}

export function resultsMarkdown(
  title: string,
  machine: Record<string, string>,
  rows: Row[],
  notes: string[],
): string {
  return `# ${title}

Written by \`deno task bench\` (\`bench/run.ts\`); do not edit by hand.

${Object.entries(machine).map(([k, v]) => `- ${k}: ${v}`).join("\n")}

${resultsTable(rows)}

${notes.map((n) => `- ${n}`).join("\n")}
`;
}
