/**
 * NAR encode + sha256 throughput: `narDumpPath(P)` hashed in-process with
 * node:crypto against `nix-store --dump P | sha256sum`, on a ~1 GiB tree (a few
 * big files and many small ones, compressible pseudo-random data) added to the
 * store with `nix-store --add`. Runs alternate; prints a markdown table.
 *
 *   deno run -A bench/nar_encode.ts [--quick]   (--quick: 128 MiB, 3 runs)
 *
 * Also part of `bench/run.ts` (row W0).
 */
import { createHash } from "node:crypto";
import { narDumpPath } from "../lib/io/nar_source.ts";
import { stats } from "./_lib.ts";
import { resultsTable, type Row } from "./_report.ts";

/** Compressible data: one random 4 KiB block repeated, each copy stamped with a counter. */
function fill(buf: Uint8Array, seed: number): void {
  const block = crypto.getRandomValues(new Uint8Array(4096));
  for (let at = 0; at < buf.length; at += 4096) {
    buf.set(block.subarray(0, Math.min(4096, buf.length - at)), at);
    buf[at] = (seed + at / 4096) & 0xff;
  }
}

/** Writes the tree: 60% in 4 big files, the rest in small files over nested dirs. */
async function makeTree(root: string, TOTAL: number): Promise<number> {
  let files = 0;
  const bigSize = Math.floor((TOTAL * 0.6) / 4);
  const chunk = new Uint8Array(8 * 2 ** 20);
  await Deno.mkdir(`${root}/big`, { recursive: true });
  for (let i = 0; i < 4; i++) {
    using f = await Deno.open(`${root}/big/blob${i}`, { write: true, create: true });
    for (let left = bigSize; left > 0; left -= chunk.length) {
      fill(chunk, i);
      await f.write(chunk.subarray(0, Math.min(chunk.length, left)));
    }
    files++;
  }
  let left = TOTAL - 4 * bigSize;
  const small = new Uint8Array(256 * 1024);
  fill(small, 7);
  for (let d = 0; left > 0; d++) {
    const dir = `${root}/lib/d${d % 16}/sub${d}`;
    await Deno.mkdir(dir, { recursive: true });
    for (let k = 0; k < 50 && left > 0; k++) {
      // Sizes from 0 to 256 KiB, skewed small like a real closure.
      const r = (((d * 50 + k) * 2654435761) % 1000) / 1000;
      const size = Math.min(left, Math.floor(r ** 3 * small.length));
      await Deno.writeFile(`${dir}/file${k}.so`, small.subarray(0, size), {
        mode: k % 5 === 0 ? 0o755 : 0o644,
      });
      if (k % 10 === 0) await Deno.symlink(`file${k}.so`, `${dir}/link${k}`);
      left -= size;
      files++;
    }
  }
  return files;
}

async function sh(cmd: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", cmd], stdout: "piped" }).output();
  if (out.code !== 0) throw new Error(`${cmd} exited ${out.code}`);
  return new TextDecoder().decode(out.stdout).trim();
}

async function arcaRun(path: string): Promise<[number, string, number]> {
  const t0 = performance.now();
  const h = createHash("sha256");
  let size = 0;
  for await (const c of narDumpPath(path)) {
    h.update(c);
    size += c.length;
  }
  return [(performance.now() - t0) / 1000, h.digest("hex"), size];
}

async function nixRun(path: string): Promise<[number, string]> {
  const t0 = performance.now();
  const out = await sh(`nix-store --dump '${path}' | sha256sum`);
  return [(performance.now() - t0) / 1000, out.split(" ")[0]];
}

/**
 * Runs W0: NAR encode + sha256 of a 1 GiB tree (128 MiB with `quick`), Arca
 * and `nix-store --dump | sha256sum` alternating, and returns its row.
 */
export async function benchNarEncode(quick: boolean, runs: number): Promise<Row> {
  const total = quick ? 128 * 2 ** 20 : 2 ** 30;
  const tmp = await Deno.makeTempDir({ prefix: "arca-bench-nar-" });
  let storePath: string | undefined;
  try {
    const t0 = performance.now();
    const files = await makeTree(`${tmp}/tree`, total);
    storePath = await sh(`nix-store --add '${tmp}/tree'`);
    const setup = ((performance.now() - t0) / 1000).toFixed(1);
    console.error(`tree: ${files} files, added as ${storePath} in ${setup} s`);
    const a: number[] = [];
    const n: number[] = [];
    for (let i = 0; i < runs; i++) {
      const [ta, ha, size] = await arcaRun(storePath);
      const [tn, hn] = await nixRun(storePath);
      if (ha !== hn) throw new Error(`hash mismatch: arca ${ha}, nix ${hn}`);
      a.push(size / 1e6 / ta);
      n.push(size / 1e6 / tn);
      console.error(`run ${i + 1}: arca ${ta.toFixed(2)} s, nix ${tn.toFixed(2)} s`);
    }
    return {
      workload: `W0 NAR encode + sha256, ${(total / 2 ** 20).toFixed(0)} MiB tree, ${files} files`,
      metric: "MB/s",
      better: "higher",
      arca: stats(a),
      base: stats(n),
      baseline: "`nix-store --dump | sha256sum`",
    };
  } finally {
    if (storePath) await sh(`nix-store --delete '${storePath}' >/dev/null 2>&1`).catch(() => {});
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const row = await benchNarEncode(quick, quick ? 3 : 5);
  console.log(resultsTable([row]));
}
