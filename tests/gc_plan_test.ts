/**
 * Properties of gc's selection on random path graphs: every remaining path
 * keeps its references, no member of a pinned closure goes, the age and size
 * limits are honoured, and a path only goes when it may; with a model of the
 * cache on disk, the predicted size is what the sweep's rules leave.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type GcPath, planGc } from "../lib/gc/plan_gc.ts";
import { SpaceModel } from "../lib/gc/space_model.ts";

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

/**
 * A random cache on disk for the space model: chunks in packs (some packs
 * with dead bytes, some young and named by nothing), NAR files made of
 * chunks (some held by work in progress), paths sharing NAR files, pins,
 * recent imports, free database pages.
 */
const disk = fc.integer({ min: 1, max: 25 }).chain((n) =>
  fc.record({
    packs: fc.array(
      fc.record({ slack: fc.nat(500), kept: fc.boolean() }),
      { minLength: 1, maxLength: 5 },
    ),
    chunks: fc.array(
      fc.record({ pack: fc.nat(4), clen: fc.integer({ min: 1, max: 400 }) }),
      { minLength: 1, maxLength: 30 },
    ),
    files: fc.array(
      fc.record({
        manifest: fc.integer({ min: 50, max: 300 }),
        chunks: fc.uniqueArray(fc.nat(29), { maxLength: 6 }),
        held: fc.boolean(),
      }),
      { minLength: n, maxLength: n },
    ),
    paths: fc.array(
      fc.record({
        refs: fc.uniqueArray(fc.nat(n - 1), { maxLength: 3 }),
        file: fc.nat(n - 1),
        own: fc.nat(200),
        imported: fc.integer({ min: 0, max: NOW }),
        accessed: fc.option(fc.integer({ min: 0, max: NOW }), { nil: undefined }),
      }),
      { minLength: n, maxLength: n },
    ),
    pins: fc.uniqueArray(fc.nat(n - 1), { maxLength: 2 }),
    other: fc.nat(5000),
    kvFree: fc.nat(3000),
    compactBelow: fc.constantFrom(0, 0.5),
    limit: fc.nat(20_000),
    graceMs: fc.option(fc.integer({ min: 0, max: NOW }), { nil: undefined }),
    graceYields: fc.boolean(),
  })
);

Deno.test("gc plan with a space model: predicts the sweep's result on disk, meets the limit", () => {
  fc.assert(
    fc.property(disk, (d) => {
      const packIds = d.packs.map((_, i) => `pack${i}`);
      // Chunks back to back in their packs; a pack's slack is dead bytes at its end.
      const offsets = new Map<string, number>();
      const chunks = d.chunks.map((c) => {
        const pack = packIds[c.pack % packIds.length];
        const offset = offsets.get(pack) ?? 0;
        offsets.set(pack, offset + c.clen);
        return { pack, offset, clen: c.clen };
      });
      const size = (id: string, i: number) => (offsets.get(id) ?? 0) + d.packs[i].slack;
      const named = new Set<string>();
      const files = new Map(d.files.map((f, i) => {
        const cs = f.chunks.filter((j) => j < chunks.length).map((j) => chunks[j]);
        for (const c of cs) named.add(c.pack);
        return [`f${i}`, { bytes: f.manifest, chunks: cs, held: f.held }];
      }));
      const packs = new Map(packIds.map((id, i) => [id, {
        size: size(id, i),
        kept: d.packs[i].kept && !named.has(id),
      }]));
      const paths: GcPath[] = d.paths.map((p, i) => ({
        hashPart: `p${i}`,
        references: p.refs.filter((j) => j < i).map((j) => `p${j}`),
        fileHash: `f${p.file}`,
        fileSize: 1,
        narSize: 1,
        importedAt: p.imported,
        accessedAt: p.accessed,
      }));
      const own = new Map(d.paths.map((p, i) => [`p${i}`, p.own]));
      const space = new SpaceModel({
        other: d.other + d.kvFree,
        kvFree: d.kvFree,
        compactBelow: d.compactBelow,
        packs,
        files,
        paths: new Map(
          paths.map((p) => [p.hashPart, { file: p.fileHash, bytes: own.get(p.hashPart)! }]),
        ),
      });
      const pins = d.pins.map((j) => `p${j}`);
      const plan = planGc(paths, {
        now: NOW,
        maxBytes: d.limit,
        graceMs: d.graceMs,
        graceYields: d.graceYields,
        roots: pins,
        space,
      });
      const disk = plan.disk!;
      const gone = new Set(plan.remove);
      const left = paths.filter((p) => !gone.has(p.hashPart));
      for (const p of left) for (const r of p.references) assert.ok(!gone.has(r));

      // The sweep's rules, simulated on what is left.
      const used = new Set(left.map((p) => p.fileHash));
      const liveFiles = [...files].filter(([fh, f]) => used.has(fh) || f.held);
      const live = new Map<string, Map<number, number>>();
      for (const [, f] of liveFiles) {
        for (const c of f.chunks) {
          if (!live.has(c.pack)) live.set(c.pack, new Map());
          live.get(c.pack)!.set(c.offset, c.clen);
        }
      }
      const compact = new Set(disk.compact);
      let packBytes = 0;
      for (const [id, p] of packs) {
        const l = [...(live.get(id)?.values() ?? [])].reduce((a, b) => a + b, 0);
        if (!live.has(id)) packBytes += p.kept ? p.size : 0;
        else if (l < p.size * d.compactBelow || compact.has(id)) packBytes += l;
        else packBytes += p.size;
      }
      const fileBytes = liveFiles.reduce((n, [, f]) => n + f.bytes, 0);
      const pathBytes = left.reduce((n, p) => n + own.get(p.hashPart)!, 0);
      const onDisk = d.other + d.kvFree + packBytes + fileBytes + pathBytes;
      assert.equal(disk.before - disk.freed, onDisk, "freed is what the sweep deletes");
      assert.equal(disk.after, onDisk - (disk.vacuum ? d.kvFree : 0), "after is what it leaves");

      if (disk.after > d.limit) {
        // Over the limit only with nothing left to remove, compact or VACUUM.
        const rooted = closure(paths, pins);
        const young = closure(
          paths,
          d.graceMs === undefined ? [] : paths.filter((p) => p.importedAt >= NOW - d.graceMs!)
            .map((p) => p.hashPart),
        );
        for (const p of left) {
          const h = p.hashPart;
          assert.ok(rooted.has(h) || (!d.graceYields && young.has(h)), `${h} could have gone`);
        }
        assert.equal(disk.vacuum, d.kvFree > 0);
        assert.ok(disk.shortfall, "the plan says why");
        const s = disk.shortfall!;
        assert.equal(s.roots.bytes + s.recent.bytes + s.inProgress + s.base, disk.after);
      } else assert.equal(disk.shortfall, undefined);
      if (!d.graceYields && d.graceMs !== undefined) {
        const since = NOW - d.graceMs;
        const young = closure(
          paths,
          paths.filter((p) => p.importedAt >= since).map((p) => p.hashPart),
        );
        for (const h of gone) assert.ok(!young.has(h), `recent ${h} went with an import running`);
      }
    }),
    { numRuns: 1000 },
  );
});
