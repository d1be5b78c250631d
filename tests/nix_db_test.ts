/**
 * Path info read from Nix's own database (what the post-build hook uses)
 * is what `nix path-info --json` says, for one path and for a closure; and
 * where the database cannot answer (a path it does not hold, a store path
 * with a subpath, NIX_REMOTE set, a database that is not there) it says so,
 * so the caller asks Nix.
 */
import assert from "node:assert/strict";
import { buildPath, nixEnv, runOk } from "./_run.ts";
import { nixBuildLog, nixDbPathInfo, nixDbValidOutputs } from "../lib/io/nix_db.ts";
import { nixPathInfo } from "../lib/io/nix_path_info.ts";
import type { PathMeta } from "../lib/narinfo/path_meta.ts";

const sorted = (xs: PathMeta[]) =>
  [...xs].sort((a, b) => a.storePath < b.storePath ? -1 : 1).map((m) => ({
    ...m,
    references: [...m.references].sort(),
  }));

Deno.test("path info from Nix's database equals nix path-info's", async () => {
  const env = await nixEnv();
  const leaf = await buildPath("nixdb-leaf", "mkdir -p $out; echo leaf > $out/f", env);
  const top = await buildPath(
    "nixdb-top",
    "mkdir -p $out; echo $leaf > $out/ref; echo $out > $out/self",
    env,
    { deps: { leaf } },
  );
  for (const closure of [false, true]) {
    const fromDb = await nixDbPathInfo([top], closure);
    assert.ok(fromDb, "root reads the database");
    assert.deepEqual(sorted(fromDb), sorted(await nixPathInfo([top], closure)));
  }
  const closure = (await nixDbPathInfo([top], true))!;
  assert.equal(closure.length, 2);
  const t = closure.find((m) => m.storePath === top)!;
  assert.deepEqual([...t.references].sort(), [leaf, top].map((p) => p.slice(11)).sort());

  assert.equal(await nixDbPathInfo([`${top}/ref`], false), undefined);
  assert.equal(await nixDbPathInfo([`/nix/store/${"0".repeat(32)}-missing`], true), undefined);
  assert.equal(await nixDbPathInfo([top], true, { db: "/nonexistent/db.sqlite" }), undefined);
  assert.equal(await nixDbPathInfo([top], true, { storeDir: "/other/store" }), undefined);
  Deno.env.set("NIX_REMOTE", "daemon");
  try {
    assert.equal(await nixDbPathInfo([top], true), undefined);
  } finally {
    Deno.env.delete("NIX_REMOTE");
  }
});

Deno.test("a derivation's valid outputs and its build log, from Nix's database and log directory", async () => {
  const env = await nixEnv();
  const out = await buildPath(
    "nixdb-logged",
    "echo 'line one of the log'; echo line two >&2; mkdir -p $out",
    env,
  );
  const drv = (await runOk("nix-store", ["-q", "--deriver", out], { env })).trim();
  assert.deepEqual(await nixDbValidOutputs(drv), [out]);
  const want = await runOk("nix-store", ["--read-log", drv], { env });
  const log = await nixBuildLog(drv);
  assert.ok(log && log.length > 0);
  assert.equal(new TextDecoder().decode(log), want);
  assert.match(want, /line one of the log/);
  // Not a derivation Nix knows: its outputs are Nix's to tell (none), and it has no log.
  const unknown = `/nix/store/${"1".repeat(32)}-nothing.drv`;
  assert.equal(await nixDbValidOutputs(unknown), undefined);
  assert.deepEqual(await nixBuildLog(unknown), new Uint8Array());
  Deno.env.set("NIX_LOG_DIR", "/elsewhere");
  try {
    assert.equal(await nixBuildLog(drv), undefined);
  } finally {
    Deno.env.delete("NIX_LOG_DIR");
  }
});
