/**
 * W5: filling a cache. `arca import-closure` into an empty cache against
 * `nix copy --to file://EMPTYDIR?compression=…` of the same closure, runs
 * alternating. Reports NAR MB/s, CPU seconds and peak RSS of the child
 * process, and stored bytes. The first run of each side is kept as the cache
 * the serving benchmarks use.
 */
import { dirBytes, type Measured, runMeasured, stats } from "./_lib.ts";
import type { Row } from "./_report.ts";
import { arcaArgs } from "../tests/_run.ts";

export interface ImportSetup {
  top: string;
  narBytes: number;
  pathCount: number;
  keyFile: string;
  /** Environment for Nix (nixEnv()). */
  nixEnv: Record<string, string>;
  /** Environment for arca without ARCA_DIR (arcaEnv() minus the cache dir). */
  arcaEnv: Record<string, string>;
  workDir: string;
}

/** `arca import-closure` into `cacheDir`; throws unless every path was imported. */
export async function arcaImport(
  s: ImportSetup,
  cacheDir: string,
  compression: "zstd" | "xz",
): Promise<Measured> {
  const m = await runMeasured(
    Deno.execPath(),
    arcaArgs([
      "import-closure",
      "--compression",
      compression,
      "--signing-key",
      s.keyFile,
      s.top,
    ]),
    {
      env: { ...s.arcaEnv, ARCA_DIR: cacheDir },
      timeoutSeconds: compression === "xz" ? 900 : 300,
    },
  );
  const want = new RegExp(`\\b${s.pathCount} imported, 0 already cached, 0 failed`);
  if (m.code !== 0 || !want.test(m.stderr)) {
    throw new Error(`arca import-closure failed (${m.code}): ${m.stderr.slice(-2000)}`);
  }
  return m;
}

/** `nix copy --to file://dir?compression=…&secret-key=…` of the closure. */
export async function nixCopy(
  s: ImportSetup,
  dir: string,
  compression: "zstd" | "xz",
): Promise<Measured> {
  const m = await runMeasured("nix", [
    "copy",
    "--to",
    `file://${dir}?compression=${compression}&secret-key=${s.keyFile}`,
    s.top,
  ], { env: s.nixEnv, timeoutSeconds: compression === "xz" ? 900 : 300 });
  if (m.code !== 0) throw new Error(`nix copy failed (${m.code}): ${m.stderr.slice(-2000)}`);
  return m;
}

/**
 * Runs W5 for one compression. Returns the result rows and the directories
 * of the first run of each side (kept for serving; the caller removes them).
 */
export async function benchImport(
  s: ImportSetup,
  compression: "zstd" | "xz",
  runs: number,
  label = "W5",
): Promise<{ rows: Row[]; arcaDir: string; nixDir: string }> {
  const a: Measured[] = [], n: Measured[] = [];
  let aStored = 0, nStored = 0;
  let arcaDir = "", nixDir = "";
  for (let r = 0; r < runs; r++) {
    const ad = `${s.workDir}/import-arca-${compression}-${r}`;
    const nd = `${s.workDir}/import-nix-${compression}-${r}`;
    // Alternate which side goes first, so drift hits both.
    const order = r % 2 === 0 ? ["arca", "nix"] : ["nix", "arca"];
    for (const side of order) {
      if (side === "arca") a.push(await arcaImport(s, ad, compression));
      else n.push(await nixCopy(s, nd, compression));
    }
    if (r === 0) {
      arcaDir = ad;
      nixDir = nd;
      aStored = await dirBytes(ad);
      nStored = await dirBytes(nd);
    } else {
      await Deno.remove(ad, { recursive: true });
      await Deno.remove(nd, { recursive: true });
    }
  }
  const mb = s.narBytes / 1e6;
  const w = `${label} import (${compression}, ${num(mb)} MB NAR)`;
  const base = `nix copy --to file://?compression=${compression}`;
  const rows: Row[] = [
    {
      workload: w,
      metric: "NAR MB/s",
      better: "higher",
      arca: stats(a.map((m) => mb / m.seconds)),
      base: stats(n.map((m) => mb / m.seconds)),
      baseline: base,
      // Issue 16: at least 1.5x nix copy's speed, with no more CPU per NAR byte.
      target: compression === "zstd" ? 1.5 : undefined,
    },
    {
      workload: w,
      metric: "CPU s (user+sys)",
      better: "lower",
      arca: stats(a.map((m) => m.cpuSeconds)),
      base: stats(n.map((m) => m.cpuSeconds)),
      baseline: base,
      target: compression === "zstd" ? 1.0 : undefined,
    },
    {
      workload: w,
      metric: "peak RSS MiB",
      better: "lower",
      arca: stats(a.map((m) => m.peakRssMiB)),
      base: stats(n.map((m) => m.peakRssMiB)),
      baseline: base,
      absoluteMax: 150,
    },
    {
      workload: w,
      metric: "stored MB (whole cache dir, run 1)",
      better: "lower",
      arca: stats([aStored / 1e6]),
      base: stats([nStored / 1e6]),
      baseline: base,
    },
  ];
  return { rows, arcaDir, nixDir };
}

function num(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}
