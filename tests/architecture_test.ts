/**
 * Keeps the layering honest: imports point down only, and the pure layers
 * (foundations and formats) never touch `Deno.*` or IO modules. A new folder
 * under lib/ must be given a layer here before its code can pass.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;

/** Layer rank by path prefix (longest match wins). Higher may import lower. */
const LAYERS: [string, number][] = [
  ["lib/version.ts", 0],
  ["lib/cli/", 0],
  ["lib/encoding/", 0],
  ["lib/hash/", 0],
  ["lib/store_path/", 0],
  ["lib/nar/", 1],
  ["lib/narinfo/", 1],
  ["lib/sign/", 1],
  ["lib/chunk/", 1],
  ["lib/compress/", 1],
  ["lib/config/", 1],
  ["lib/http1/", 1],
  ["lib/metrics/", 1],
  ["lib/io/", 2],
  ["lib/kv/", 2],
  ["lib/blob/", 2],
  ["lib/s3/", 2],
  ["lib/store/", 3],
  ["lib/gc/", 3],
  ["lib/swarm/", 3],
  ["lib/swarm/proto/", 1],
  ["lib/swarm/noise/", 1],
  ["lib/swarm/reconcile/", 1],
  ["lib/server/", 4],
  ["cmd/", 5],
  ["main.ts", 6],
];
const PURE_MAX = 1;
/** node: built-ins a pure module may use: computation only, no IO. */
const PURE_NODE = new Set(["node:crypto", "node:zlib", "node:buffer", "node:util"]);
const PURE_NPM = new Set([
  "smol-toml",
  // liblzma compiled to WASM and its Emscripten glue (lib/compress/_liblzma_wasm.js).
  "node-liblzma/wasm/liblzma.wasm",
  "node-liblzma/wasm/liblzma.js",
]);

function layerOf(rel: string): number | undefined {
  let best: [string, number] | undefined;
  for (const l of LAYERS) {
    if (rel.startsWith(l[0]) && (!best || l[0].length > best[0].length)) best = l;
  }
  return best?.[1];
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(p);
    else if (e.isFile && (p.endsWith(".ts") || p.endsWith(".js"))) yield p;
  }
}

function importsOf(src: string): string[] {
  const out: string[] = [];
  const re =
    /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of src.matchAll(re)) out.push(m[1] ?? m[2]);
  return out;
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

Deno.test("every lib/ and cmd/ file belongs to a layer, and imports point down", async () => {
  const problems: string[] = [];
  const files = [`${ROOT}main.ts`];
  for (const d of ["lib", "cmd"]) for await (const f of walk(`${ROOT}${d}`)) files.push(f);
  assert.ok(files.length > 3, "found the source files");
  for (const file of files) {
    const rel = file.slice(ROOT.length);
    const rank = layerOf(rel);
    if (rank === undefined) {
      problems.push(`${rel}: not in any layer (add its folder to LAYERS)`);
      continue;
    }
    const src = await Deno.readTextFile(file);
    for (const spec of importsOf(src)) {
      if (spec.startsWith(".")) {
        const target = new URL(spec, `file://${file}`).pathname.slice(ROOT.length);
        const tr = layerOf(target);
        if (tr === undefined) problems.push(`${rel}: imports ${target}, which is in no layer`);
        else if (tr > rank) problems.push(`${rel} (layer ${rank}) imports ${target} (layer ${tr})`);
      } else if (rank <= PURE_MAX) {
        if (spec.startsWith("node:") ? !PURE_NODE.has(spec) : !PURE_NPM.has(spec)) {
          problems.push(`${rel}: pure module imports '${spec}'`);
        }
      }
    }
    if (rank <= PURE_MAX && /\bDeno\./.test(stripComments(src))) {
      problems.push(`${rel}: pure module uses Deno.*`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("the layer check catches a violation", () => {
  // Guards the guard: the regexes must see both kinds of import.
  assert.deepEqual(importsOf(`import { x } from "../io/walk.ts";\nexport * from "node:fs";`), [
    "../io/walk.ts",
    "node:fs",
  ]);
  assert.equal(/\bDeno\./.test(stripComments("// Deno.readFile\nconst a = 1;")), false);
  assert.equal(/\bDeno\./.test(stripComments("await Deno.readFile(p)")), true);
  assert.equal(layerOf("lib/nar/encode.ts"), 1);
  assert.equal(layerOf("lib/swarm/noise/mod.ts"), 1); // the longer prefix wins over lib/swarm/
  assert.equal(layerOf("lib/swarm/peer.ts"), 3);
  assert.equal(layerOf("lib/unknown/x.ts"), undefined);
});
