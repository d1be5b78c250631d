/**
 * W6: a version series of one package, imported one version after the other
 * into one Arca cache and, as the baseline, into one flat zstd cache
 * (`nix copy --to file://DIR?compression=zstd`). Reports the bytes each step
 * adds to the disk and the total, Arca/flat.
 *
 * The package is a tree of real files from /usr/lib/x86_64-linux-gnu, each
 * holding its own store path (`$out`) at its start, middle, end and every
 * MiB, as binaries and scripts embed store paths; so every build changes
 * those bytes, like a rebuild against new dependencies does.
 *   v1 initial: the tree
 *   v2 rebuild: the same files, a new $out (only the embedded paths change)
 *   v3 patch:   about 10% of the files get other content
 *   v4 major:   about 80% of the files get other content
 */
import { buildBenchPath } from "./_build_path.ts";
import { deleteStore } from "./_closure.ts";
import { sh, stats } from "./_lib.ts";
import type { Row } from "./_report.ts";
import { arcaImport, type ImportSetup, nixCopy } from "./import_bench.ts";
import { arcaArgs } from "../tests/_run.ts";

export interface SeriesSetup {
  /** Bytes of files in v1. */
  bytes: number;
  keyFile: string;
  nixEnv: Record<string, string>;
  /** Environment for arca without ARCA_DIR. */
  arcaEnv: Record<string, string>;
  workDir: string;
  cleanups: (() => Promise<void>)[];
}

const POOL_DIR = "/usr/lib/x86_64-linux-gnu";
const NAME = "arca-bench-series";
// As long as `$out` (/nix/store/<32>-arca-bench-series), so files keep their sizes.
const MARK = "@".repeat("/nix/store/".length + 32 + 1 + NAME.length);
const MiB = 1 << 20;

/** Regular files of 4 KiB to 8 MiB under `dir`, sorted by path. */
async function listPool(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        const size = (await Deno.lstat(p)).size;
        if (size >= 4096 && size <= 8 * MiB) out.push({ path: p, size });
      }
    }
  };
  await walk(dir);
  return out.sort((a, b) => a.path < b.path ? -1 : 1);
}

/** mulberry32: the same pool gives the same picks on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A file's bytes with MARK inserted at the start, every MiB, the middle and the end. */
function marked(bytes: Uint8Array): Uint8Array {
  const mark = new TextEncoder().encode(MARK);
  const cuts = new Set([0, bytes.length >> 1, bytes.length]);
  for (let o = MiB; o < bytes.length; o += MiB) cuts.add(o);
  const sorted = [...cuts].sort((a, b) => a - b);
  const out = new Uint8Array(bytes.length + mark.length * sorted.length);
  let w = 0, r = 0;
  for (const c of sorted) {
    out.set(bytes.subarray(r, c), w);
    w += c - r;
    r = c;
    out.set(mark, w);
    w += mark.length;
  }
  return out;
}

/** Writes one version's source tree: file i gets the content of `sources[i]`, marked. */
async function writeTree(dir: string, sources: string[]): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  for (let i = 0; i < sources.length; i++) {
    const name = `f${String(i).padStart(4, "0")}`;
    await Deno.writeFile(`${dir}/${name}`, marked(await Deno.readFile(sources[i])), {
      mode: 0o644,
    });
  }
}

/** Sum of the files under `dir`/nar (what the flat cache stores for NARs). */
async function narDirBytes(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(`${dir}/nar`)) {
    if (e.isFile) n += (await Deno.lstat(`${dir}/nar/${e.name}`)).size;
  }
  return n;
}

/** Runs W6; returns its rows and a note on the data. */
export async function benchSeries(s: SeriesSetup): Promise<{ rows: Row[]; note: string }> {
  const pool = await listPool(POOL_DIR);
  const rnd = prng(7);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  const v1: string[] = [];
  const sizes = new Map(pool.map((f) => [f.path, f.size]));
  let used = 0;
  while (used < s.bytes && pool.length > 0) {
    const f = pool.pop()!;
    v1.push(f.path);
    used += f.size;
  }
  // A changed file gets the content of an unused pool file of about its size,
  // as a new version of a library would be.
  const replace = (share: number) => {
    const v = [...v1];
    const order = v.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const i of order.slice(0, Math.round(v.length * share))) {
      if (pool.length === 0) break;
      const want = Math.log(sizes.get(v1[i])!);
      let best = 0;
      for (let k = 1; k < pool.length; k++) {
        if (Math.abs(Math.log(pool[k].size) - want) < Math.abs(Math.log(pool[best].size) - want)) {
          best = k;
        }
      }
      v[i] = pool.splice(best, 1)[0].path;
    }
    return v;
  };
  const v3 = replace(0.1);
  const v4 = replace(0.8);
  const versions: { label: string; sources: string[] }[] = [
    { label: "v1 initial", sources: v1 },
    { label: "v2 rebuild (only embedded store paths change)", sources: v1 },
    {
      label: `v3 patch (${v3.filter((p, i) => p !== v1[i]).length} of ${v1.length} files change)`,
      sources: v3,
    },
    {
      label: `v4 major (${v4.filter((p, i) => p !== v1[i]).length} of ${v1.length} files change)`,
      sources: v4,
    },
  ];

  const arcaDir = `${s.workDir}/series-arca`, flatDir = `${s.workDir}/series-flat`;
  s.cleanups.push(() => Deno.remove(arcaDir, { recursive: true }).catch(() => {}));
  s.cleanups.push(() => Deno.remove(flatDir, { recursive: true }).catch(() => {}));
  const arcaStored = async () =>
    (JSON.parse(
      await sh(
        Deno.execPath(),
        arcaArgs([
          "status",
          "--json",
        ]),
        { env: { ...s.arcaEnv, ARCA_DIR: arcaDir } },
      ),
    ) as { storedBytes: number }).storedBytes;

  const built: string[] = [];
  s.cleanups.push(() => deleteStore(built, s.nixEnv));
  const steps: { label: string; nar: number; arca: number; flat: number }[] = [];
  let arcaBefore = 0, flatBefore = 0;
  for (const [k, v] of versions.entries()) {
    // Readable by the build user (the work dir is private).
    const srcRoot = await Deno.makeTempDir({ prefix: "arca-bench-series-" });
    await Deno.chmod(srcRoot, 0o755);
    const src = `${srcRoot}/v${k + 1}`;
    await writeTree(src, v.sources);
    // The builder copies the tree and writes its own store path over every mark.
    const script =
      `cp -r ${src} $out && find $out -type f -exec sed -i 's|${MARK}|'"$out"'|g' {} +`;
    let path: string;
    try {
      const b = await buildBenchPath(NAME, script, s.nixEnv, s.workDir);
      built.push(b.path, b.drv);
      path = b.path;
    } finally {
      await Deno.remove(srcRoot, { recursive: true });
    }
    const narSize = JSON.parse(await sh("nix", ["path-info", "--json", path], { env: s.nixEnv }))[0]
      .narSize as number;
    const setup: ImportSetup = {
      top: path,
      narBytes: narSize,
      pathCount: 1,
      keyFile: s.keyFile,
      nixEnv: s.nixEnv,
      arcaEnv: s.arcaEnv,
      workDir: s.workDir,
    };
    await arcaImport(setup, arcaDir, "zstd");
    await nixCopy(setup, flatDir, "zstd");
    const a = await arcaStored(), f = await narDirBytes(flatDir);
    steps.push({ label: v.label, nar: narSize, arca: a - arcaBefore, flat: f - flatBefore });
    arcaBefore = a;
    flatBefore = f;
  }

  const mb = (x: number) => x / 1e6;
  const base = "flat zstd cache (nix copy, nar/ files)";
  const w = `W6 version series (${v1.length} files, ${mb(steps[0].nar).toFixed(0)} MB NAR each)`;
  const rows: Row[] = steps.map((st) => ({
    workload: w,
    metric: `stored MB added: ${st.label}`,
    better: "lower",
    arca: stats([mb(st.arca)]),
    base: stats([mb(st.flat)]),
    baseline: base,
  }));
  rows.push({
    workload: w,
    metric: "stored MB, all 4 versions",
    better: "lower",
    arca: stats([mb(arcaBefore)]),
    base: stats([mb(flatBefore)]),
    baseline: base,
  });
  const note = `W6: ${NAME}, ${v1.length} files picked from ${POOL_DIR} (4 KiB-8 MiB each), each ` +
    `with its own store path written at its start, middle, end and every MiB; NAR MB per version: ` +
    `${steps.map((st) => mb(st.nar).toFixed(1)).join(", ")}. Each version is imported after the ` +
    `previous into one cache: Arca's figure is the growth of \`arca status --json\` storedBytes ` +
    `(packs), the baseline's the growth of the nar/ directory of one \`nix copy --to ` +
    `file://DIR?compression=zstd\` cache (narinfos and the KV database left out on both sides). ` +
    `One run: the sizes do not vary between runs.`;
  return { rows, note };
}
