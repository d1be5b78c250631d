/**
 * `gc --max-size N` leaves the cache directory under N on disk, as `du -sb`
 * counts it (computed here by walking the directory, and checked against
 * `du -sb` itself), or exits 1 saying why. End to end with real Nix-built
 * paths, real `arca` processes and a real Nix client:
 * - the case of issue 16: two 12.5 MB closures imported and served, then
 *   `gc --max-size 20M` with the default grace period; kv and filesystem
 *   backends. The dry run's "would free" figure is the real run's "freed",
 *   and both are the bytes of data files (packs, manifests, NAR files,
 *   narinfos) that disappeared. What is not predicted exactly is only the KV
 *   database (gc's own commits take pages, VACUUM gives free ones back) and
 *   the directories' own sizes (ext4 never shrinks a directory): the test
 *   checks `du` before - after == freed + database change + directory change.
 * - dead chunks inside a live pack: gc compacts the pack because the limit
 *   needs it, though it is more than half live.
 * - free pages in the KV database: VACUUMed instead of removing paths.
 * - pins that need more than N: everything else goes, exit 1, the message
 *   names the bytes the pins need (exactly their packs and manifests).
 * - uploads whose narinfo has not come yet stay through the grace period,
 *   also one whose NAR is that of a path this run removes; their narinfos
 *   are accepted afterwards and a real Nix substitutes them.
 * - a live lease (an import running): no file deleted, exit 1 naming it.
 * - `serve`'s scheduled gc brings the cache under `max_size` the same way.
 */
import assert from "node:assert/strict";
import { arca, buildPath, deleteStorePaths, nixEnv, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv, buildClosure, type Closure, makeKey, substitute } from "./_cache_fixture.ts";
import { assertDuAgrees, dataBytes, dbBytes, type DiskShot, diskShot } from "./_disk.ts";
import { dumpPath, narinfoFor, put } from "./_push_fixture.ts";

const LIMIT = 20 * 1024 * 1024; // "20M"
const TOKEN = "gc-size-token";

interface Env {
  env: Record<string, string>;
  nix: Record<string, string>;
  cache: string;
  key: { secret: string; pub: string };
}

async function setup(dir: string, backend: string): Promise<Env> {
  const nix = await nixEnv();
  const env = {
    ...arcaEnv(nix, dir),
    ARCA_BACKEND: backend,
    ARCA_UPLOAD_TOKEN: TOKEN,
  };
  const key = await makeKey(dir, `gc-size-${backend}-1`, env);
  return { env: { ...env, ARCA_SIGNING_KEY: key.secret }, nix, cache: `${dir}/cache`, key };
}

async function importClosure(e: Env, top: string): Promise<void> {
  const r = await arca(["import-closure", top], { env: e.env });
  assert.equal(r.code, 0, r.stderr);
}

/** Downloads every path's narinfo and NAR through a real `arca serve` (access times). */
async function serveAll(e: Env, paths: string[]): Promise<void> {
  const server = await startServer([], e.env);
  try {
    for (const p of paths) {
      const r = await fetch(`${server.url}/${p.slice(11, 43)}.narinfo`);
      const text = await r.text();
      assert.equal(r.status, 200, p);
      const nar = await fetch(`${server.url}/${/^URL: (.*)$/m.exec(text)![1]}`);
      assert.equal(nar.status, 200);
      await nar.arrayBuffer();
    }
  } finally {
    await server.stop(); // flushes the access times
  }
}

interface GcRun {
  code: number;
  stderr: string;
  report: {
    paths: { storePath: string }[];
    plan: { disk: { compact: string[]; freed: number; after: number } };
    sweep?: { packsCompacted: number; narFiles: number };
    space: { before: number; after: number; freed: number; fits: boolean; problem?: string };
  };
}

async function gc(e: Env, args: string[]): Promise<GcRun> {
  const r = await arca(["gc", "--json", ...args], { env: e.env });
  assert.ok(r.code === 0 || r.code === 1, `gc exited ${r.code}: ${r.stderr}`);
  return { code: r.code, stderr: r.stderr, report: JSON.parse(r.stdout) };
}

async function listed(e: Env): Promise<string[]> {
  const r = await arca(["list", "--json"], { env: e.env });
  return JSON.parse(r.stdout).map((i: { storePath: string }) => i.storePath).sort();
}

async function verifyClean(e: Env): Promise<void> {
  const v = await arca(["verify"], { env: e.env });
  assert.equal(v.code, 0, v.stdout + v.stderr);
}

/** What is listed substitutes from a real `arca serve` into a store that lost it. */
async function substitutesListed(e: Env, closures: Closure[]): Promise<void> {
  const left = await listed(e);
  await deleteStorePaths(closures.flatMap((c) => c.paths), e.nix);
  const server = await startServer([], e.env);
  try {
    const r = await substitute(left, server.url, e.key.pub, e.nix);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await server.stop();
  }
}

/** du before - after is the freed data plus what the database and directories did. */
function assertAccounted(before: DiskShot, after: DiskShot, freed: number): void {
  assert.equal(dataBytes(before) - dataBytes(after), freed, "freed = data files gone");
  assert.equal(
    before.total - after.total,
    freed + (dbBytes(before) - dbBytes(after)) + (before.dirs - after.dirs),
    "du -sb changed by exactly that, the database and the directories",
  );
}

async function issueCase(backend: string) {
  const tmp = await tempDir();
  try {
    const e = await setup(tmp.path, backend);
    const c1 = await buildClosure(e.nix, 12_500_000);
    const c2 = await buildClosure(e.nix, 12_500_000);
    await importClosure(e, c1.top);
    await importClosure(e, c2.top);
    await serveAll(e, [...c1.paths, ...c2.paths]);
    const s0 = await diskShot(e.cache);
    await assertDuAgrees(e.cache, s0);
    assert.ok(s0.total > 25_000_000, `the cache takes ${s0.total}`);

    const dry = await gc(e, ["--max-size", "20M", "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    const planned = dry.report.space.freed;
    assert.ok(dry.report.space.after <= LIMIT, `predicted ${dry.report.space.after}`);
    assert.deepEqual((await diskShot(e.cache)).files, s0.files, "a dry run deletes nothing");

    const real = await gc(e, ["--max-size", "20M"]);
    assert.equal(real.code, 0, real.stderr);
    assert.equal(real.report.space.freed, planned, "the dry run's figure is the real one");
    assert.ok(real.report.space.fits);
    const s1 = await diskShot(e.cache);
    await assertDuAgrees(e.cache, s1);
    assert.ok(s1.total <= LIMIT, `du -sb after gc: ${s1.total} > ${LIMIT}`);
    assertAccounted(s0, s1, planned);
    console.log(`${backend}: du -sb ${s0.total} -> ${s1.total}, freed ${planned}`);
    // gc saw what du sees, plus the WAL index (-shm, 32 KiB) its open database has.
    assert.ok(Math.abs(real.report.space.after - s1.total) <= 32768, "gc measures like du");

    await verifyClean(e);
    await substitutesListed(e, [c1, c2]);
  } finally {
    await tmp.cleanup();
  }
}

Deno.test("gc --max-size 20M: a 25 MB kv cache ends under 20M; dry run = real", async () => {
  await issueCase("kv");
});

Deno.test("gc --max-size 20M: a 25 MB filesystem cache ends under 20M; dry run = real", async () => {
  await issueCase("filesystem");
});

Deno.test("gc --max-size compacts a pack more than half live when the limit needs it", async () => {
  const tmp = await tempDir();
  try {
    const e = await setup(tmp.path, "kv");
    const a = await buildPath(
      "fit-a",
      "mkdir -p $out; head -c 7000000 /dev/urandom > $out/a",
      e.nix,
    );
    const b = await buildPath(
      "fit-b",
      "mkdir -p $out; head -c 5000000 /dev/urandom > $out/b",
      e.nix,
    );
    const imp = await arca(["import", a, b], { env: e.env });
    assert.equal(imp.code, 0, imp.stderr);
    await serveAll(e, [a]); // a was used: b is the least recently used
    const s0 = await diskShot(e.cache);
    assert.equal([...s0.files.keys()].filter((f) => f.startsWith("packs/")).length, 1, "one pack");
    const limit = s0.total - 4_000_000;

    const dry = await gc(e, ["--max-size", `${limit}`, "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(dry.report.paths.map((p) => p.storePath), [b]);
    assert.equal(dry.report.plan.disk.compact.length, 1, "the pack (58% live) is compacted");
    const real = await gc(e, ["--max-size", `${limit}`]);
    assert.equal(real.code, 0, real.stderr);
    assert.equal(real.report.sweep!.packsCompacted, 1);
    assert.equal(real.report.space.freed, dry.report.space.freed);
    const s1 = await diskShot(e.cache);
    assert.ok(s1.total <= limit, `${s1.total} > ${limit}`);
    assertAccounted(s0, s1, real.report.space.freed);
    assert.deepEqual(await listed(e), [a]);
    await verifyClean(e);
    await substitutesListed(e, [{ top: a, paths: [a] }, { top: b, paths: [b] }]);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("gc --max-size VACUUMs the database when its free pages stand in the way", async () => {
  const tmp = await tempDir();
  try {
    const e = await setup(tmp.path, "kv");
    const c = await buildClosure(e.nix, 3_000_000);
    await importClosure(e, c.top);
    // History: 5 MB of records written and deleted again leave free pages the file keeps.
    const kv = await Deno.openKv(`${e.cache}/db`);
    const junk = "x".repeat(1000);
    for (let i = 0; i < 10; i++) {
      const op = kv.atomic();
      for (let j = 0; j < 500; j++) op.set(["audit", i, j], junk);
      await op.commit();
    }
    for (let i = 0; i < 10; i++) {
      const op = kv.atomic();
      for (let j = 0; j < 500; j++) op.delete(["audit", i, j]);
      await op.commit();
    }
    kv.close();
    const s0 = await diskShot(e.cache);
    assert.ok(dbBytes(s0) > 5_000_000, `db ${dbBytes(s0)}`);
    const limit = s0.total - 2_000_000;

    const dry = await gc(e, ["--max-size", `${limit}`, "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(dry.report.paths, [], "no path needs to go");
    assert.match(
      (await arca(["gc", "--max-size", `${limit}`, "--dry-run"], { env: e.env })).stdout,
      /and VACUUM the database/,
    );
    const real = await gc(e, ["--max-size", `${limit}`]);
    assert.equal(real.code, 0, real.stderr);
    assert.deepEqual(real.report.paths, []);
    const s1 = await diskShot(e.cache);
    assert.ok(s1.total <= limit, `${s1.total} > ${limit}`);
    assert.ok(dbBytes(s1) < 1_000_000, `the database shrank to ${dbBytes(s1)}`);
    assert.equal(real.report.space.freed, 0);
    await verifyClean(e);
    await substitutesListed(e, [c]);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("gc --max-size below what pins need: the rest goes, exit 1 names their bytes", async () => {
  const tmp = await tempDir();
  try {
    const e = await setup(tmp.path, "kv");
    const c1 = await buildClosure(e.nix, 12_500_000);
    const c2 = await buildClosure(e.nix, 12_500_000);
    const c3 = await buildClosure(e.nix, 1_000_000);
    for (const c of [c1, c2, c3]) await importClosure(e, c.top);
    for (const c of [c1, c2]) assert.equal((await arca(["pin", c.top], { env: e.env })).code, 0);

    const real = await gc(e, ["--max-size", "20M"]);
    assert.equal(real.code, 1, "over the limit is a failure");
    assert.equal(real.report.space.fits, false);
    assert.deepEqual(await listed(e), [...c1.paths, ...c2.paths].sort(), "all else went");
    const s1 = await diskShot(e.cache);
    assert.ok(s1.total > LIMIT);
    // Everything left is pinned: the pins need exactly the packs and manifests on disk.
    let pinned = 0;
    for (const [f, n] of s1.files) if (/^(packs|manifests)\//.test(f)) pinned += n;
    const m = /pins and gc roots need [^(]*\((\d+) bytes\) for (\d+) paths/.exec(real.stderr);
    assert.ok(m, real.stderr);
    assert.equal(Number(m[1]), pinned);
    assert.equal(Number(m[2]), 10);
    assert.match(real.stderr, /over the limit of 20\.0 MiB \(20971520 bytes\)/);
    await verifyClean(e);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("gc --max-size keeps uploads whose narinfo has not come yet (grace period)", async () => {
  const tmp = await tempDir();
  try {
    const e = await setup(tmp.path, "kv");
    const old = await buildClosure(e.nix, 2_000_000);
    const data = old.paths.find((p) => p.endsWith("-arca-data"))!;
    const fresh = await buildPath(
      "fit-upload",
      "mkdir -p $out; head -c 1500000 /dev/urandom > $out/u",
      e.nix,
    );
    const server = await startServer([], e.env);
    try {
      // Two NARs uploaded, narinfos not yet: a new one, and one that an import
      // then publishes as a path of its own, which gc removes: only the
      // upload's record (not the NAR file's time, which that publish set)
      // tells gc the upload still needs it.
      const nars = [await dumpPath(fresh, e.nix), await dumpPath(data, e.nix)];
      for (const n of nars) {
        const r = await put(server.url, `/nar/${n.fileHash32}.nar`, n.bytes, TOKEN);
        assert.equal(r.status, 200, r.text);
      }
      await importClosure(e, old.top);
      const g = await gc(e, ["--max-size", "1M"]);
      assert.equal(g.code, 1);
      assert.match(g.stderr, /uploads awaiting their narinfo and imports in progress/);
      assert.deepEqual(await listed(e), [], "every path went");
      // Nix would skip these NARs now: they are still there, and their narinfos are accepted.
      for (const [i, path] of [fresh, data].entries()) {
        const head = await fetch(`${server.url}/nar/${nars[i].fileHash32}.nar`, {
          method: "HEAD",
        });
        assert.equal(head.status, 200);
        const r = await put(
          server.url,
          `/${path.slice(11, 43)}.narinfo`,
          narinfoFor(path, nars[i], []),
          TOKEN,
        );
        assert.equal(r.status, 200, r.text);
      }
    } finally {
      await server.stop();
    }
    assert.deepEqual(await listed(e), [data, fresh].sort());
    await verifyClean(e);
    await substitutesListed(e, [old, { top: fresh, paths: [fresh] }]);

    // The protection ends with the grace period: an upload never claimed goes then.
    const stray = await buildPath("fit-stray", "mkdir -p $out; echo stray > $out/s", e.nix);
    const n = await dumpPath(stray, e.nix);
    const server2 = await startServer([], e.env);
    try {
      assert.equal(
        (await put(server2.url, `/nar/${n.fileHash32}.nar`, n.bytes, TOKEN)).status,
        200,
      );
      const kept = await gc(e, []);
      assert.equal(kept.report.sweep!.narFiles, 0, "within the grace period it stays");
      const gone = await gc(e, ["--grace", "0s"]);
      assert.equal(gone.code, 0, gone.stderr);
      assert.equal(gone.report.sweep!.narFiles, 1, "after it, it goes");
      const head = await fetch(`${server2.url}/nar/${n.fileHash32}.nar`, { method: "HEAD" });
      assert.equal(head.status, 404);
    } finally {
      await server2.stop();
    }
    assert.deepEqual(await listed(e), [data, fresh].sort());
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("gc --max-size with an import running: no file deleted, exit 1 names the lease", async () => {
  const tmp = await tempDir();
  const sleeper = new Deno.Command("sleep", { args: ["120"] }).spawn();
  try {
    const e = await setup(tmp.path, "kv");
    const c = await buildClosure(e.nix, 3_000_000);
    await importClosure(e, c.top);
    // The lease an import takes, held by a live process.
    const kv = await Deno.openKv(`${e.cache}/db`);
    await kv.set(["lease", "test-import"], { pid: sleeper.pid, expiresAt: Date.now() + 3600_000 });
    kv.close();
    const s0 = await diskShot(e.cache);
    const g = await gc(e, ["--max-size", "1M"]);
    assert.equal(g.code, 1);
    assert.match(
      g.stderr,
      new RegExp(`pid ${sleeper.pid} holds a lease\\), so gc deleted no file`),
    );
    assert.equal(dataBytes(await diskShot(e.cache)), dataBytes(s0), "no data file deleted");
    sleeper.kill("SIGKILL");
    await sleeper.status;
    const again = await gc(e, ["--max-size", "1M"]);
    assert.equal(again.code, 0, again.stderr);
    assert.ok((await diskShot(e.cache)).total <= 1024 * 1024);
  } finally {
    try {
      sleeper.kill("SIGKILL");
    } catch { /* ended */ }
    await sleeper.status;
    await tmp.cleanup();
  }
});

Deno.test("serve's scheduled gc brings the cache under max_size", async () => {
  const tmp = await tempDir();
  try {
    const e = await setup(tmp.path, "kv");
    await Deno.mkdir(`${tmp.path}/home/.config/arca`, { recursive: true });
    await Deno.writeTextFile(
      `${tmp.path}/home/.config/arca/config.toml`,
      `max_size = "20M"\ngc_interval = "1s"\n`,
    );
    const c1 = await buildClosure(e.nix, 12_500_000);
    const c2 = await buildClosure(e.nix, 12_500_000);
    const server = await startServer([], e.env);
    try {
      await importClosure(e, c1.top);
      await importClosure(e, c2.top);
      // Each run audits its result: wait (bounded) for one that ended under the limit.
      let fitted = false;
      for (let i = 0; i < 60 && !fitted; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const a = await arca(["audit", "--json"], { env: e.env });
        fitted = a.stdout.split("\n").filter((l) => l.includes('"GarbageCollect"'))
          .map((l) => JSON.parse(l)).some((ev) => ev.paths > 0 && ev.diskAfter <= LIMIT);
      }
      assert.ok(fitted, "a scheduled gc ended under max_size");
    } finally {
      await server.stop();
    }
    const s = await diskShot(e.cache);
    assert.ok(s.total <= LIMIT, `du -sb ${s.total} after serve's gc`);
    await verifyClean(e);
  } finally {
    await tmp.cleanup();
  }
});
