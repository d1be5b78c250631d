/**
 * The benchmark data: a closure built with the real Nix from files on this
 * machine. Many small paths are copies of directories under /usr/share and
 * /usr/lib (docs, locales, libraries: real, skewed sizes); a few large paths
 * hold a slice of a tar of a big library directory. Paths reference earlier
 * ones, so the closure has a real dependency order. One `nix-store -r` builds
 * everything, and `deleteClosure` removes outputs and derivations again.
 */
import { nixString } from "../tests/_run.ts";
import { sh } from "./_lib.ts";

export interface ClosureSpec {
  /** How many small (directory copy) paths. */
  smallPaths: number;
  /** Budget for the small paths, bytes of files. */
  smallBytes: number;
  /** Large single-file paths that fill the total up to `totalBytes`. */
  largePaths: number;
  totalBytes: number;
}

export interface BenchClosure {
  top: string;
  paths: string[];
  /** All derivations that built it, deleted by `deleteClosure`. */
  drvs: string[];
  narBytes: number;
  narSizes: Map<string, number>;
}

const LARGE_SOURCES = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/jvm",
  "/usr/lib/llvm-14",
  "/usr/lib/gcc",
];

/** Directories two levels below /usr/share and /usr/lib with their apparent size. */
async function candidates(): Promise<{ dir: string; bytes: number }[]> {
  const out = await new Deno.Command("du", {
    args: ["-b", "-d", "2", "/usr/share", "/usr/lib"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .map((l) => l.split("\t"))
    .filter(([, d]) => d && d.split("/").length === 5 && /^[\w/.+-]+$/.test(d))
    .map(([b, dir]) => ({ dir, bytes: Number(b) }))
    .filter((c) => c.bytes >= 16384 && c.bytes <= 40e6)
    .sort((a, b) => a.dir < b.dir ? -1 : 1);
}

/** A small deterministic PRNG (mulberry32) so the same spec picks the same directories. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The Nix expression for the closure; `salt` makes the paths fresh. */
async function expression(
  spec: ClosureSpec,
  salt: string,
  largeSources = LARGE_SOURCES,
): Promise<string> {
  const pool = await candidates();
  const rnd = prng(42);
  // Target sizes avg*4*r^3 (mean avg): most paths small, a few a hundred times bigger.
  const avg = spec.smallBytes / spec.smallPaths;
  const picked: { dir: string; bytes: number }[] = [];
  let used = 0;
  while (picked.length < spec.smallPaths && pool.length > 0) {
    const target = Math.max(16384, avg * 4 * rnd() ** 3);
    let best = 0;
    for (let i = 1; i < pool.length; i++) {
      const d = Math.abs(Math.log(pool[i].bytes / target));
      if (d < Math.abs(Math.log(pool[best].bytes / target))) best = i;
    }
    const [c] = pool.splice(best, 1);
    if (used + c.bytes > spec.smallBytes) continue;
    picked.push(c);
    used += c.bytes;
  }
  const largeEach = Math.max(
    1 << 20,
    Math.floor((spec.totalBytes - used) / Math.max(1, spec.largePaths)),
  );
  const clean = "find $out \\( -type p -o -type s -o -type b -o -type c \\) -exec rm -f {} +";
  const lines: string[] = [];
  const names: string[] = [];
  picked.forEach((c, i) => {
    const deps = [...new Set([i - 1, Math.floor(i / 3) - 1].filter((d) => d >= 0))];
    const script = [
      "mkdir -p $out",
      `cp -r ${c.dir} $out/data 2>/dev/null || true`,
      clean,
      ...deps.map((d) => `echo $d${d} >> $out/refs`),
    ].join("; ");
    const attrs = deps.map((d) => `d${d} = p${d};`).join(" ");
    lines.push(`  p${i} = mk "arca-bench-s${i}" ${nixString(script)} { ${attrs} };`);
    names.push(`p${i}`);
  });
  for (let k = 0; k < spec.largePaths; k++) {
    const src = largeSources[k % largeSources.length];
    const script =
      `mkdir -p $out; tar cf - ${src} 2>/dev/null | head -c ${largeEach} > $out/blob.tar`;
    lines.push(`  l${k} = mk "arca-bench-l${k}" ${nixString(script)} {};`);
    names.push(`l${k}`);
  }
  const topScript = "mkdir -p $out; " + names.map((n) => `echo $${n} >> $out/refs`).join("; ");
  return `let
  mk = name: script: deps: derivation ({
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
    PATH = "/usr/bin:/bin";
    salt = ${JSON.stringify(salt)};
  } // deps);
${lines.join("\n")}
in mk "arca-bench-top" ${nixString(topScript)} { ${names.map((n) => `${n} = ${n};`).join(" ")} }
`;
}

/** Builds the closure described by `spec` in the local store. */
export async function buildClosure(
  spec: ClosureSpec,
  env: Record<string, string>,
  workDir: string,
  largeSources?: string[],
): Promise<BenchClosure> {
  const file = `${workDir}/closure-${crypto.randomUUID()}.nix`;
  await Deno.writeTextFile(file, await expression(spec, crypto.randomUUID(), largeSources));
  const drv = (await sh("nix-instantiate", [file], { env })).trim();
  await Deno.remove(file);
  const drvs = (await sh("nix-store", ["-qR", drv], { env })).trim().split("\n");
  try {
    const top = (await sh("nix-store", ["-r", drv, "--max-jobs", "2"], { env })).trim();
    const info = JSON.parse(await sh("nix", ["path-info", "--json", "-r", top], { env })) as {
      path: string;
      narSize: number;
    }[];
    const narSizes = new Map(info.map((i) => [i.path, i.narSize]));
    const paths = info.map((i) => i.path);
    return { top, paths, drvs, narSizes, narBytes: info.reduce((n, i) => n + i.narSize, 0) };
  } catch (e) {
    // Outputs of the derivations that did build must go too.
    const outs = (await sh("nix-store", ["-q", "--outputs", ...drvs], { env }).catch(() => ""))
      .trim().split("\n").filter((l) => l);
    await deleteStore([...outs, ...drvs], env);
    throw e;
  }
}

/** Removes the closure's outputs (those still present) and its derivations. */
export async function deleteClosure(c: BenchClosure, env: Record<string, string>): Promise<void> {
  await deleteStore([...c.paths, ...c.drvs], env);
}

/** Deletes store paths, skipping absent ones; derivations' outputs go too when present. */
export async function deleteStore(paths: string[], env: Record<string, string>): Promise<void> {
  const present: string[] = [];
  for (const p of paths) {
    try {
      await Deno.lstat(p);
      present.push(p);
    } catch { /* already gone */ }
  }
  if (present.length === 0) return;
  await sh("nix-store", ["--delete", "--ignore-liveness", ...present], { env });
}
