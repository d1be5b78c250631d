/**
 * Properties of gc's selection on random path graphs: every remaining path
 * keeps its references, no member of a pinned closure goes, the age and size
 * limits are honoured, and a path only goes when it may.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type GcPath, planGc } from "../lib/gc/plan_gc.ts";

const NOW = 1_000_000;

/** A random DAG: path i may reference paths j < i (and itself), as store paths do. */
const graph = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc.tuple(
    fc.array(
      fc.record({
        refs: fc.uniqueArray(fc.nat(n - 1), { maxLength: 4 }),
        self: fc.boolean(),
        size: fc.integer({ min: 1, max: 1000 }),
        file: fc.nat(n - 1),
        imported: fc.integer({ min: 0, max: NOW }),
        accessed: fc.option(fc.integer({ min: 0, max: NOW }), { nil: undefined }),
      }),
      { minLength: n, maxLength: n },
    ),
    fc.uniqueArray(fc.nat(n - 1), { maxLength: 3 }),
    fc.option(fc.integer({ min: 0, max: NOW }), { nil: undefined }),
    fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
  )
).map(([nodes, pins, maxAgeMs, maxBytes]) => {
  const h = (i: number) => `p${i}`;
  // Paths sharing a file must agree on its size.
  const fileSize = new Map<number, number>();
  const paths: GcPath[] = nodes.map((x, i) => {
    if (!fileSize.has(x.file)) fileSize.set(x.file, x.size);
    return {
      hashPart: h(i),
      references: [...x.refs.filter((j) => j < i).map(h), ...(x.self ? [h(i)] : [])],
      fileHash: `f${x.file}`,
      fileSize: fileSize.get(x.file)!,
      narSize: x.size,
      importedAt: x.imported,
      accessedAt: x.accessed,
    };
  });
  return { paths, pins: pins.map(h), maxAgeMs, maxBytes };
});

function closure(paths: GcPath[], from: string[]): Set<string> {
  const by = new Map(paths.map((p) => [p.hashPart, p]));
  const seen = new Set<string>();
  const stack = [...from];
  while (stack.length) {
    const x = stack.pop()!;
    if (seen.has(x) || !by.has(x)) continue;
    seen.add(x);
    stack.push(...by.get(x)!.references);
  }
  return seen;
}

Deno.test("gc plan: closures stay whole, pinned closures stay, limits hold", () => {
  fc.assert(
    fc.property(graph, ({ paths, pins, maxAgeMs, maxBytes }) => {
      const plan = planGc(paths, { now: NOW, maxAgeMs, maxBytes, roots: pins });
      const gone = new Set(plan.remove);
      // Referrers before references: any prefix of the removal keeps closures whole.
      const at = new Map(plan.remove.map((h, i) => [h, i]));
      for (const p of paths) {
        for (const r of p.references) {
          if (r !== p.hashPart && at.has(r)) assert.ok(at.get(p.hashPart)! < at.get(r)!);
        }
      }
      assert.equal(gone.size, plan.remove.length, "no path listed twice");
      const left = paths.filter((p) => !gone.has(p.hashPart));
      for (const p of left) {
        for (const r of p.references) assert.ok(!gone.has(r), `${p.hashPart} lost ${r}`);
      }
      const pinned = closure(paths, pins);
      for (const x of pinned) assert.ok(!gone.has(x), `pinned ${x} removed`);
      // Size: what is left fits, unless only pinned paths are left to remove.
      const files = new Map(left.map((p) => [p.fileHash, p.fileSize]));
      const bytes = [...files.values()].reduce((a, b) => a + b, 0);
      assert.equal(plan.bytesAfter, bytes);
      if (maxBytes !== undefined && bytes > maxBytes) {
        for (const p of left) assert.ok(pinned.has(p.hashPart), `${p.hashPart} could have gone`);
      }
      // Age alone: a path goes iff it and everything above it are unpinned and unused since.
      if (maxAgeMs !== undefined && maxBytes === undefined) {
        const cutoff = NOW - maxAgeMs;
        for (const p of paths) {
          const above = paths.filter((q) => closure(paths, [q.hashPart]).has(p.hashPart));
          const stale = above.every((q) =>
            Math.max(q.importedAt, q.accessedAt ?? 0) < cutoff && !pinned.has(q.hashPart)
          );
          assert.equal(gone.has(p.hashPart), stale, `${p.hashPart}: stale=${stale}`);
        }
      }
      if (maxAgeMs === undefined && maxBytes === undefined) assert.equal(plan.remove.length, 0);
    }),
    { numRuns: 500 },
  );
});

Deno.test("gc plan: the least recently used closure goes first", () => {
  const path = (h: string, refs: string[], t: number, size = 100): GcPath => ({
    hashPart: h,
    references: refs,
    fileHash: `f-${h}`,
    fileSize: size,
    narSize: size,
    importedAt: t,
  });
  const paths = [
    path("lib", [], 10),
    path("app-old", ["lib"], 20),
    path("app-new", ["lib"], 90),
    path("other", [], 50),
  ];
  // 400 bytes; fit 300: app-old (20) goes; lib stays because app-new (90) uses it.
  assert.deepEqual(planGc(paths, { now: 100, maxBytes: 300, roots: [] }).remove, ["app-old"]);
  // Fit 150: then "other" (50), then app-new (90), which leaves lib alone.
  assert.deepEqual(planGc(paths, { now: 100, maxBytes: 150, roots: [] }).remove, [
    "app-old",
    "other",
    "app-new",
  ]);
  // Fit 50: lib must go, and takes app-new with it.
  assert.deepEqual(planGc(paths, { now: 100, maxBytes: 50, roots: [] }).remove.length, 4);
  // A pin on app-new keeps lib too.
  assert.deepEqual(
    planGc(paths, { now: 100, maxBytes: 0, roots: ["app-new"] }).remove.sort(),
    ["app-old", "other"],
  );
  // Grace: recent imports and their closures stay.
  assert.deepEqual(
    planGc(paths, { now: 100, maxAgeMs: 0, graceMs: 15, roots: [] }).remove.sort(),
    ["app-old", "other"],
  );
});
