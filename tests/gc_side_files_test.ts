/**
 * gc removes a path's NAR listing and its deriver's build log with it
 * (`lib/gc/side_files.ts`), and counts them as it plans:
 * - unit, on real files: a log two paths share goes with the second; a
 *   listing no path names goes once older than the grace period; a log no
 *   path names stays, unless older than a max-age.
 * - end to end, kv and filesystem backends: `nix copy --to` with
 *   `write-nar-listing=1` and `nix store copy-log` into a real `arca serve`,
 *   then `gc --max-age`: the removed path's listing and log are gone, the
 *   pinned path's stay, an orphan listing goes, an orphan log older than
 *   the max-age goes and a younger one stays; the dry
 *   run's figure is the real run's, and `du -sb` changed by exactly that.
 */
import assert from "node:assert/strict";
import { arca, buildPath, nixEnv, run, runOk, tempDir } from "./_run.ts";
import { startServer } from "./_serve.ts";
import { arcaEnv, makeKey } from "./_cache_fixture.ts";
import { assertDuAgrees, dataBytes, dbBytes, diskShot } from "./_disk.ts";
import { localSideFiles, modelSides, sideFilesOf, sweepSideFiles } from "../lib/gc/side_files.ts";
import { SpaceModel } from "../lib/gc/space_model.ts";

const H = ["a", "b", "c", "e"].map((x) => x.repeat(32));

async function write(dir: string, rel: string, bytes: number, ageMs = 0): Promise<void> {
  const path = `${dir}/${rel}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeFile(path, new Uint8Array(bytes));
  if (ageMs) {
    const t = new Date(Date.now() - ageMs);
    await Deno.utime(path, t, t);
  }
}

Deno.test("side files: a shared log goes with its last path; old orphan listings go; orphan logs by age", async () => {
  const tmp = await tempDir();
  try {
    const root = tmp.path;
    const layout = { root, tmp: `${root}/tmp`, logs: `${root}/logs` };
    const drv = `${"d".repeat(32)}-x.drv`;
    const lone = `${"f".repeat(32)}-failed.drv`;
    await write(root, `listings/${H[0]}.ls`, 100);
    await write(root, `listings/${H[1]}.ls`, 200);
    await write(root, `logs/${drv}`, 1000);
    await write(root, `logs/${lone}`, 5000, 3_600_000);
    await write(root, `listings/${H[2]}.ls`, 300, 3_600_000); // no such path, an hour old
    await write(root, `listings/${H[3]}.ls`, 400); // no such path yet: an upload on its way
    const side = localSideFiles(layout);
    const a = { hashPart: H[0], deriver: drv };
    const b = { hashPart: H[1], deriver: drv };
    const since = { listings: Date.now() - 60_000 };

    const found = await sideFilesOf(side, [a, b]);
    assert.deepEqual(found.get(`logs/${drv}`)?.users, [H[0], H[1]]);
    assert.deepEqual(found.get(`logs/${lone}`)?.users, []);

    // The model: the orphan listing is gone from the start, the log with b.
    const sides = modelSides(found, since);
    assert.equal(sides.bytes, 100 + 200 + 1000 + 300);
    const model = new SpaceModel({
      other: 5000 + 400,
      kvFree: 0,
      compactBelow: 0,
      packs: new Map(),
      files: sides.files,
      paths: new Map([a, b].map((p) => [p.hashPart, {
        file: "nar",
        bytes: 0,
        sides: sides.byPath.get(p.hashPart),
      }])),
    });
    assert.equal(model.before, 7000);
    assert.equal(model.choose().after, 7000 - 300);
    model.removePath(H[0]);
    assert.equal(model.choose().after, 7000 - 300 - 100, "a's listing only: b still needs the log");
    model.removePath(H[1]);
    assert.equal(model.choose().after, 5400, "the log goes with b");

    // The sweep does what the model said.
    const first = await sweepSideFiles(side, [a], [b], since);
    assert.deepEqual(first, { files: 2, bytes: 100 + 300 });
    const left = () => Array.fromAsync(side.list()).then((l) => l.map((f) => f.name).sort());
    assert.deepEqual(await left(), [
      `listings/${H[1]}.ls`,
      `listings/${H[3]}.ls`,
      `logs/${drv}`,
      `logs/${lone}`,
    ]);
    const second = await sweepSideFiles(side, [a, b], [], since);
    assert.deepEqual(second, { files: 2, bytes: 200 + 1000 });
    assert.deepEqual(await left(), [`listings/${H[3]}.ls`, `logs/${lone}`]);
    // With a max-age, a log no path names goes once older than it.
    const aged = { ...since, logs: Date.now() - 1_800_000 };
    assert.equal(modelSides(await sideFilesOf(side, []), aged).bytes, 5000);
    assert.deepEqual(await sweepSideFiles(side, [], [], aged), { files: 1, bytes: 5000 });
    assert.deepEqual(await left(), [`listings/${H[3]}.ls`]);
  } finally {
    await tmp.cleanup();
  }
});

const TOKEN = "side-files-token";

async function sideFilesEndToEnd(backend: string) {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = { ...arcaEnv(nix, tmp.path), ARCA_UPLOAD_TOKEN: TOKEN, ARCA_BACKEND: backend };
  const cache = `${tmp.path}/cache`;
  const key = await makeKey(tmp.path, `side-${backend}-1`, env);
  const kept = await buildPath("side-kept", "echo kept > $out", nix);
  const gone = await buildPath("side-gone", "echo gone > $out", nix);
  const never = await buildPath("side-never", "echo never > $out", nix);
  const young = await buildPath("side-young", "echo young > $out", nix);
  const drvOf = async (p: string) =>
    (await runOk("nix-store", ["-q", "--deriver", p], { env: nix })).trim();
  const hashOf = (p: string) => p.slice(11, 43);
  const server = await startServer([], env);
  try {
    const to = `${server.url.replace("http://", `http://u:${TOKEN}@`)}?secret-key=${key.secret}` +
      `&write-nar-listing=1`;
    for (const p of [kept, gone]) {
      const copy = await run("nix", ["copy", "--to", to, p], { env: nix });
      assert.equal(copy.code, 0, copy.stderr);
    }
    for (const p of [kept, gone, never]) {
      const log = await run("nix", ["store", "copy-log", "--to", to, await drvOf(p)], { env: nix });
      assert.equal(log.code, 0, log.stderr);
    }
    // A listing whose narinfo never came (a push that died).
    const orphan = await fetch(`${server.url}/${hashOf(never)}.ls`, {
      method: "PUT",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ version: 1, root: { type: "regular", size: 6 } }),
    });
    assert.equal(orphan.status, 200, await orphan.text());
    // Past --max-age for everything so far; then a log no path names, written just now.
    await new Promise((r) => setTimeout(r, 3100));
    const log = await run("nix", ["store", "copy-log", "--to", to, await drvOf(young)], {
      env: nix,
    });
    assert.equal(log.code, 0, log.stderr);
  } finally {
    await server.stop();
  }
  const present = async (rel: string) =>
    await Deno.stat(`${cache}/${rel}`).then(() => true, () => false);
  const files = {
    keptLs: `listings/${hashOf(kept)}.ls`,
    keptLog: `logs/${(await drvOf(kept)).slice(11)}`,
    goneLs: `listings/${hashOf(gone)}.ls`,
    goneLog: `logs/${(await drvOf(gone)).slice(11)}`,
    neverLs: `listings/${hashOf(never)}.ls`,
    neverLog: `logs/${(await drvOf(never)).slice(11)}`,
    youngLog: `logs/${(await drvOf(young)).slice(11)}`,
  };
  for (const [name, rel] of Object.entries(files)) assert.ok(await present(rel), `${name}: ${rel}`);

  const pin = await arca(["pin", kept], { env });
  assert.equal(pin.code, 0, pin.stderr);
  const gc = async (extra: string[]) => {
    const r = await arca(["gc", "--json", "--max-age", "3s", "--grace", "0s", ...extra], { env });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  try {
    const s0 = await diskShot(cache);
    const dry = await gc(["--dry-run"]);
    assert.deepEqual(dry.paths.map((p: { storePath: string }) => p.storePath), [gone]);
    const real = await gc([]);
    assert.deepEqual(real.paths.map((p: { storePath: string }) => p.storePath), [gone]);
    assert.equal(real.sweep.sideFiles, 4, JSON.stringify(real.sweep));
    assert.equal(real.space.freed, dry.space.freed, "the dry run's figure is the real one");
    const s1 = await diskShot(cache);
    await assertDuAgrees(cache, s1);
    const sideBytes = (s: typeof s0) =>
      [...s.files].reduce((n, [rel, size]) => /^(listings|logs)\//.test(rel) ? n + size : n, 0);
    assert.equal(
      sideBytes(s0) - sideBytes(s1),
      real.sweep.sideBytesFreed,
      "the side bytes freed are the files gone",
    );
    assert.equal(
      s0.total - s1.total,
      real.space.freed + (dbBytes(s0) - dbBytes(s1)) + (s0.dirs - s1.dirs),
      "du -sb changed by the freed bytes, the database and the directories",
    );
    assert.equal(dataBytes(s0) - dataBytes(s1), real.space.freed);
    const want = {
      keptLs: true,
      keptLog: true,
      goneLs: false,
      goneLog: false,
      neverLs: false,
      neverLog: false,
      youngLog: true,
    };
    for (const [name, rel] of Object.entries(files)) {
      assert.equal(await present(rel), want[name as keyof typeof want], `${name}: ${rel}`);
    }
  } finally {
    await tmp.cleanup();
  }
}

Deno.test("gc takes a path's listing and build log with it (kv backend)", () =>
  sideFilesEndToEnd("kv"));
Deno.test("gc takes a path's listing and build log with it (filesystem backend)", () =>
  sideFilesEndToEnd("filesystem"));
