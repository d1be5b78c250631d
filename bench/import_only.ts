/**
 * W5 alone, for work on import speed: builds a many-path closure shaped like
 * the full bench's (many small directory copies, a few big tar slices, a top
 * path), then runs `arca import-closure --compression zstd` and `nix copy
 * --to file://…?compression=zstd` alternating, printing NAR MB/s, CPU s and
 * peak RSS per run and their median (min-max).
 *
 * ```
 * deno run -A bench/import_only.ts [--runs 3] [--mb 400] [--small 120]
 *   [--large 3]     large (tar slice) paths; the quick bench has 1
 *   [--keep FILE]   keep the closure afterwards, describing it in FILE
 *   [--reuse FILE]  import the closure FILE describes instead of building one
 *   [--delete FILE] only delete the closure FILE describes
 * ```
 * Without --keep the store paths it built are deleted at the end.
 */
import { parseArgs } from "node:util";
import { arcaArgs, nixEnv } from "../tests/_run.ts";
import { arcaEnv, makeKey } from "../tests/_cache_fixture.ts";
import { type BenchClosure, buildClosure, deleteClosure } from "./_closure.ts";
import { arcaImport, type ImportSetup, nixCopy } from "./import_bench.ts";
import { killMeasuredChildren, type Measured, sh, stats } from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    mb: { type: "string", default: "400" },
    small: { type: "string", default: "120" },
    large: { type: "string", default: "3" },
    keep: { type: "string" },
    reuse: { type: "string" },
    delete: { type: "string" },
    "arca-only": { type: "boolean" },
  },
});

type Saved = Omit<BenchClosure, "narSizes">;

function load(file: string): BenchClosure {
  const s = JSON.parse(Deno.readTextFileSync(file)) as Saved;
  return { ...s, narSizes: new Map() };
}

function show(xs: number[], digits = 1): string {
  const s = stats(xs);
  const f = (x: number) => x.toFixed(digits);
  return `${f(s.median)} (${f(s.min)}-${f(s.max)}) [${xs.map(f).join(", ")}]`;
}

async function main(): Promise<void> {
  const nix = await nixEnv();
  if (values.delete) {
    await deleteClosure(load(values.delete), nix);
    await Deno.remove(values.delete);
    return;
  }
  const work = await Deno.makeTempDir({ prefix: "arca-import-only-" });
  const aEnv = arcaEnv(nix, work, `${work}/unused-cache`);
  let closure: BenchClosure | undefined;
  try {
    await sh(Deno.execPath(), arcaArgs(["--version"]), {
      env: aEnv,
    });
    const key = await makeKey(work, "arca-import-only-1", aEnv);
    if (values.reuse) closure = load(values.reuse);
    else {
      const total = Number(values.mb) * 1e6;
      const small = Number(values.small);
      closure = await buildClosure(
        {
          smallPaths: small,
          smallBytes: total * 0.55,
          largePaths: Number(values.large),
          totalBytes: total,
        },
        nix,
        work,
      );
      if (values.keep) {
        const { narSizes: _, ...saved } = closure;
        await Deno.writeTextFile(values.keep, JSON.stringify(saved));
      }
    }
    const mb = closure.narBytes / 1e6;
    console.log(`closure: ${closure.paths.length} paths, ${mb.toFixed(0)} MB of NAR`);
    const setup: ImportSetup = {
      top: closure.top,
      narBytes: closure.narBytes,
      pathCount: closure.paths.length,
      keyFile: key.secret,
      nixEnv: nix,
      arcaEnv: aEnv,
      workDir: work,
    };
    const a: Measured[] = [], n: Measured[] = [];
    const runs = Number(values.runs);
    for (let r = 0; r < runs; r++) {
      const order = r % 2 === 0 ? ["arca", "nix"] : ["nix", "arca"];
      for (const side of order) {
        if (side === "nix" && values["arca-only"]) continue;
        const dir = `${work}/${side}-${r}`;
        const m = side === "arca"
          ? await arcaImport(setup, dir, "zstd")
          : await nixCopy(setup, dir, "zstd");
        (side === "arca" ? a : n).push(m);
        console.log(
          `run ${r + 1} ${side.padEnd(4)}: ${(mb / m.seconds).toFixed(1)} MB/s, ` +
            `${m.seconds.toFixed(2)} s, CPU ${m.cpuSeconds.toFixed(1)} s, ` +
            `peak RSS ${m.peakRssMiB.toFixed(0)} MiB`,
        );
        await Deno.remove(dir, { recursive: true });
      }
    }
    const rate = (ms: Measured[]) => ms.map((m) => mb / m.seconds);
    console.log(`arca MB/s ${show(rate(a))}`);
    console.log(`arca CPU s ${show(a.map((m) => m.cpuSeconds))}`);
    console.log(`arca peak RSS MiB ${show(a.map((m) => m.peakRssMiB), 0)}`);
    if (n.length) {
      console.log(`nix  MB/s ${show(rate(n))}`);
      console.log(`nix  CPU s ${show(n.map((m) => m.cpuSeconds))}`);
      console.log(`nix  peak RSS MiB ${show(n.map((m) => m.peakRssMiB), 0)}`);
      const ratio = stats(rate(a)).median / stats(rate(n)).median;
      const pair = rate(a).map((x, i) => x / rate(n)[i]);
      console.log(`ratio of medians ${ratio.toFixed(2)}x; per run pair ${show(pair, 2)}`);
    }
  } finally {
    killMeasuredChildren();
    if (closure && !values.keep && !values.reuse) await deleteClosure(closure, nix);
    await Deno.remove(work, { recursive: true }).catch(() => {});
    await Deno.remove(nix.XDG_CACHE_HOME, { recursive: true }).catch(() => {});
  }
}

await main();
