/**
 * The benchmark suite must keep working: CI runs `bench/run.ts --quick`
 * (the whole harness against nginx and `nix copy`, on a small closure) and
 * checks that every workload produced a row. It checks no thresholds: the
 * figures live in bench/RESULTS.md.
 */
import assert from "node:assert/strict";
import { run, tempDir } from "./_run.ts";

Deno.test({
  name: "bench --quick runs every workload against its baseline",
  // Long (about two minutes) but it is the only check that the benchmarks still run.
  sanitizeResources: false,
  fn: async () => {
    const tmp = await tempDir();
    try {
      const out = `${tmp.path}/RESULTS.md`;
      const root = new URL("..", import.meta.url).pathname;
      const r = await run(Deno.execPath(), [
        "run",
        "-A",
        "--quiet",
        `${root}bench/run.ts`,
        "--quick",
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.stderr.slice(-3000));
      const md = await Deno.readTextFile(out);
      for (const w of ["W0", "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9"]) {
        assert.match(md, new RegExp(`\\| ${w} `), `${w} is in the report`);
      }
      // Every row has numbers on both sides and a ratio.
      const rows = md.split("\n").filter((l) => /^\| W\d/.test(l));
      for (const row of rows) assert.doesNotMatch(row, /NaN/, row);
    } finally {
      await tmp.cleanup();
    }
  },
});
