/**
 * Crash safety: `arca import-closure` and `arca gc` are killed with SIGKILL
 * at random moments, 50 times. After each kill the next start must find:
 * tmp/ emptied, `verifyStore` clean (every chunk and NAR re-hashed, every
 * reference cached), every listed path's NAR served by the store and
 * decompressing to its NarHash, and no committed path lost to an import.
 * `ARCA_CRASH_RUNS=500 deno test -A tests/crash_test.ts` is the soak version.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { arca, arcaArgs, buildPath, nixEnv, tempDir } from "./_run.ts";
import { arcaEnv } from "./_cache_fixture.ts";
import { cacheLayout } from "../lib/blob/cache_layout.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { verifyStore } from "../lib/gc/mod.ts";
import { type Decompression, decompressStream } from "../lib/compress/mod.ts";
import { encodeNix32 } from "../lib/encoding/mod.ts";
import { formatHash } from "../lib/hash/mod.ts";

const RUNS = Number(Deno.env.get("ARCA_CRASH_RUNS") ?? 50);
const BUDGET_MS = Number(Deno.env.get("ARCA_CRASH_BUDGET_MS") ?? 75_000);

Deno.test("SIGKILL during import and gc never breaks the cache", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  try {
    // Closures sharing a common file (dedup across imports) with own random data.
    const common = await buildPath(
      "crash-common",
      "mkdir -p $out; head -c 1500000 /dev/urandom > $out/c",
      nix,
    );
    const tops: string[] = [];
    for (let i = 0; i < 5; i++) {
      const lib = await buildPath(
        `crash-lib${i}`,
        `mkdir -p $out; cat $common/c > $out/copy; head -c ${
          400_000 + i * 300_000
        } /dev/urandom > $out/own`,
        nix,
        { deps: { common } },
      );
      tops.push(
        await buildPath(`crash-app${i}`, "mkdir -p $out; echo $lib > $out/lib", nix, {
          deps: { lib },
        }),
      );
    }
    const layout = cacheLayout(`${tmp.path}/cache`);
    let committed = new Set<string>();
    const started = Date.now();
    let runs = 0, killed = 0;
    const estimate = { gc: 400, import: 600 };
    for (; runs < RUNS && Date.now() - started < BUDGET_MS; runs++) {
      const gc = Math.random() < 0.4;
      const args = gc
        ? ["gc", "--grace", "0s", "--max-size", `${Math.floor(Math.random() * 6_000_000)}`]
        : ["import-closure", "--compression", Math.random() < 0.8 ? "zstd" : "none", pick(tops)];
      const child = new Deno.Command(Deno.execPath(), {
        args: arcaArgs(args),
        env,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const errText = new Response(child.stderr).text();
      // The kill lands somewhere in the run's likely duration (learned from the
      // runs that finished), so it hits mid-way however fast this machine is.
      const kind = gc ? "gc" : "import";
      const delay = estimate[kind] * (0.3 + Math.random() * 0.8);
      const t0 = performance.now();
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already done */ }
      }, delay);
      const status = await child.status;
      clearTimeout(timer);
      const err = await errText;
      // A limit below what the database itself takes cannot be met: gc says so and exits 1.
      const cannotFit = gc && status.code === 1 && /over the limit of/.test(err);
      assert.ok(
        status.success || status.signal === "SIGKILL" || cannotFit,
        `${args.join(" ")}: ${err}`,
      );
      if (status.signal === "SIGKILL") {
        killed++;
        estimate[kind] *= 1.05; // drift up until some runs finish again
      } else {
        estimate[kind] = 0.7 * estimate[kind] + 0.3 * (performance.now() - t0);
      }

      // The next start: tmp/ is cleaned, everything listed is intact.
      const store = await KvStore.open(layout);
      try {
        const left = [];
        for await (const e of Deno.readDir(layout.tmp)) left.push(e.name);
        assert.deepEqual(left, [], "tmp/ emptied at start");
        const report = await verifyStore(store);
        assert.deepEqual(report.problems, [], `run ${runs} (${args.join(" ")})`);
        const now = new Set<string>();
        for await (const info of store.list()) {
          now.add(info.storePath);
          const body = await store.openNar(info.url.slice(4));
          assert.ok(body, `${info.storePath}: NAR not served`);
          const h = createHash("sha256");
          const stream = body.body(0, body.size).stream();
          for await (
            const piece of stream.pipeThrough(decompressStream(info.compression as Decompression))
          ) {
            h.update(piece);
          }
          const got = `sha256:${encodeNix32(new Uint8Array(h.digest()))}`;
          assert.equal(got, formatHash(info.narHash, "nix32"), info.storePath);
        }
        if (!gc) { for (const p of committed) assert.ok(now.has(p), `import lost ${p}`); }
        committed = now;
      } finally {
        await store.close();
      }
    }
    console.log(
      `crash test: ${runs} runs, ${killed} killed, ${Date.now() - started} ms, ` +
        `estimates ${Math.round(estimate.gc)}/${Math.round(estimate.import)} ms`,
    );
    assert.ok(runs >= Math.min(RUNS, 30), `only ${runs} runs in the time budget`);
    assert.ok(killed >= runs / 4, `only ${killed} of ${runs} runs were killed mid-way`);
    const v = await arca(["verify"], { env });
    assert.equal(v.code, 0, v.stdout + v.stderr);
  } finally {
    await tmp.cleanup();
  }
});

function pick<T>(xs: T[]): T {
  return xs[Math.floor(Math.random() * xs.length)];
}
