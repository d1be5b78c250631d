/**
 * What `deno compile` needs that it cannot find by itself: every Worker
 * module and every WASM file the program loads must be in `deno task
 * compile`'s `--include` list, and no code may read files next to its
 * sources (a compiled binary has none), nor import a module whose name is
 * computed. Scans the sources, so a new worker cannot be forgotten.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(`${ROOT}${dir}`)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* sources(p);
    else if (/\.(ts|js)$/.test(e.name)) yield p;
  }
}

function includes(): string[] {
  const task = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.compile as string;
  return [...task.matchAll(/--include (\S+)/g)].map((m) => m[1]);
}

Deno.test("deno task compile includes every worker and WASM file, and nothing reads beside the sources", async () => {
  const inc = new Set(includes());
  const files = ["main.ts"];
  for (const d of ["lib", "cmd"]) for await (const f of sources(d)) files.push(f);
  const workers: string[] = [];
  for (const f of files) {
    const text = await Deno.readTextFile(`${ROOT}${f}`);
    const dir = f.slice(0, f.lastIndexOf("/") + 1);
    for (const m of text.matchAll(/new Worker\(\s*new URL\("([^"]+)", import\.meta\.url\)/g)) {
      const path = new URL(m[1], `file:///${dir}`).pathname.slice(1);
      workers.push(path);
      assert.ok(inc.has(path), `${f}: worker ${path} is not in the compile task's --include`);
    }
    for (const m of text.matchAll(/import source \w+ from "([^"]+\.wasm)"/g)) {
      const [pkg, ...rest] = m[1].split("/");
      const found = [...inc].some((p) => p.includes(`/${pkg}/`) && p.endsWith(rest.at(-1)!));
      assert.ok(found, `${f}: WASM ${m[1]} is not in the compile task's --include`);
    }
    // import.meta.url only to name worker modules; no files read relative to the sources.
    const metaUses = [...text.matchAll(/import\.meta\.(\w+)/g)].map((m) => m[1]);
    for (const u of metaUses) {
      assert.ok(u === "url" || u === "main", `${f}: import.meta.${u} has no meaning in a binary`);
    }
    const urlUses = (text.match(/import\.meta\.url/g) ?? []).length;
    const workerUses = (text.match(/new Worker\(\s*new URL\("[^"]+", import\.meta\.url\)/g) ?? [])
      .length;
    assert.equal(
      urlUses,
      workerUses,
      `${f}: import.meta.url used for something other than a worker`,
    );
    for (const m of text.matchAll(/\bimport\(([^)]*)\)/g)) {
      assert.match(m[1], /^"[^"]+"$/, `${f}: dynamic import of a computed name: import(${m[1]})`);
    }
  }
  // The two workers there are today; the check above keeps any new one honest.
  assert.deepEqual(workers.sort(), ["lib/server/epoll/worker.ts", "lib/store/compress_worker.ts"]);
  for (const p of inc) {
    assert.ok(
      await Deno.stat(`${ROOT}${p}`).then(() => true, () => false),
      `--include ${p} does not exist`,
    );
  }
});
