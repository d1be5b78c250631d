/**
 * Measurements behind lib/swarm/reconcile: timings of the hot paths on 100,000 ids, and decode
 * success rates, at `sketchLogFor(d)` and at each log's capacity. Not part of the test suite.
 *
 *   deno run bench/reconcile_measure.ts              timings + success at sketchLogFor(d)
 *   deno run bench/reconcile_measure.ts --rates      + failure at each log's table capacity
 *   deno run bench/reconcile_measure.ts --capacity   + re-derive the capacity table (minutes)
 *
 * A difference sketch depends only on the differing ids (shared ones cancel exactly), so the
 * success trials sketch just the signed difference; tests/reconcile_test.ts does it with real
 * overlapping sets.
 */
import {
  type Id,
  MAX_LOG,
  SetFingerprint,
  Sketch,
  sketchCapacity,
  sketchLogFor,
} from "../lib/swarm/reconcile/mod.ts";

/** xorshift32: reproducible ids. */
function rng(seed: number): () => number {
  let s = seed | 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Median wall time of `runs` calls of `f`, in ms. */
function time(runs: number, f: () => void): number {
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

const ms = (x: number) => `${x.toFixed(2)} ms`;

function timings(): void {
  const next = rng(1);
  const ids: Id[] = Array.from({ length: 100_000 }, () => [next(), next()]);
  const rows: [string, string][] = [];
  let big = new Sketch(MAX_LOG);
  rows.push([
    "new Sketch(14) + add 100,000 ids",
    ms(time(9, () => {
      big = new Sketch(MAX_LOG);
      for (const [hi, lo] of ids) big.add(hi, lo);
    })),
  ]);
  rows.push([
    "SetFingerprint add 100,000 ids",
    ms(time(9, () => {
      const fp = new SetFingerprint();
      for (const [hi, lo] of ids) fp.add(hi, lo);
    })),
  ]);
  for (const l of [5, 9, 13]) rows.push([`fold 14 -> ${l}`, ms(time(21, () => big.fold(l)))]);
  const wire = big.encode();
  rows.push(["encode log 14 (768 KiB)", ms(time(9, () => big.encode()))]);
  rows.push(["decode log 14 (768 KiB)", ms(time(9, () => Sketch.decode(wire)))]);
  for (const d of [10, 100, 1000, 10_000]) {
    const log = sketchLogFor(d);
    const other = Sketch.decode(wire);
    for (let i = 0; i < d; i++) {
      if (i & 1) other.add(next(), next());
      else other.remove(ids[i][0], ids[i][1]);
    }
    const diff = big.fold(log).subtract(other.fold(log));
    rows.push([
      `d = ${d}: fold both 14 -> ${log} + subtract`,
      ms(time(9, () => big.fold(log).subtract(other.fold(log)))),
    ]);
    let ok = true;
    rows.push([
      `d = ${d}: peel (log ${log}, ${Sketch.byteLength(log)} B)`,
      ms(time(9, () => {
        const r = diff.peel();
        ok &&= r !== undefined && r.mine.length + r.theirs.length === d;
      })) + (ok ? "" : " (FAILED to decode)"),
    ]);
  }
  console.log("| operation | median |\n|---|---|");
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
  console.log();
}

/** Fraction of `trials` random signed differences of size `d` that peel exactly at `log`. */
function failRate(d: number, log: number, trials: number, next: () => number): number {
  let fail = 0;
  for (let i = 0; i < trials; i++) {
    const s = new Sketch(log);
    for (let j = 0; j < d; j++) {
      if (next() & 1) s.add(next(), next());
      else s.remove(next(), next());
    }
    const r = s.peel();
    if (r === undefined || r.mine.length + r.theirs.length !== d) fail++;
  }
  return fail / trials;
}

const trialsFor = (log: number) => log <= 6 ? 40_000 : log <= 9 ? 10_000 : log <= 11 ? 4000 : 1000;

function successAtLogFor(): void {
  const next = rng(2);
  console.log("| d | log | bytes | cells / d | trials | decoded |\n|---|---|---|---|---|---|");
  for (const d of [1, 2, 5, 10, 30, 100, 300, 1000, 3000, 10_000]) {
    const log = sketchLogFor(d);
    const trials = Math.max(2000, Math.min(20_000, Math.floor(4e6 / d)));
    const f = failRate(d, log, trials, next);
    console.log(
      `| ${d} | ${log} | ${Sketch.byteLength(log)} | ${
        ((3 << log) / d).toFixed(2)
      } | ${trials} | ` +
        `${((1 - f) * 100).toFixed(2)}% |`,
    );
  }
  console.log();
}

/** Failure at each log's table capacity (the largest d that log is chosen for). */
function ratesAtCapacity(): void {
  const next = rng(3);
  console.log("| log | capacity | cells / d | trials | failed |\n|---|---|---|---|---|");
  for (let log = 0; log <= MAX_LOG; log++) {
    const cap = sketchCapacity(log);
    const trials = trialsFor(log);
    const f = failRate(cap, log, trials, next);
    console.log(
      `| ${log} | ${cap} | ${((3 << log) / cap).toFixed(2)} | ${trials} | ` +
        `${(f * 100).toFixed(3)}% |`,
    );
  }
  console.log();
}

/** Per log, the largest d whose measured failure is <= 0.5% (bisection; noisy near the edge). */
function deriveCapacity(): void {
  const next = rng(4);
  console.log("| log | largest d at <= 0.5% failure | cells / d |\n|---|---|---|");
  for (let log = 0; log <= MAX_LOG; log++) {
    const trials = trialsFor(log);
    let ok = 1;
    let bad = (3 << log) + 1;
    while (bad - ok > Math.max(1, Math.floor(ok / 200))) {
      const mid = (ok + bad) >> 1;
      if (failRate(mid, log, trials, next) <= 0.005) ok = mid;
      else bad = mid;
    }
    console.log(`| ${log} | ${ok} | ${((3 << log) / ok).toFixed(3)} |`);
  }
}

timings();
successAtLogFor();
if (Deno.args.includes("--rates") || Deno.args.includes("--capacity")) ratesAtCapacity();
if (Deno.args.includes("--capacity")) deriveCapacity();
