/**
 * A path may reference any number of paths (a real system closure's top has
 * hundreds). Publishing checks that every reference is cached without one
 * KV check per reference, which Deno KV caps at 100 per commit.
 */
import assert from "node:assert/strict";
import { arca, deleteStorePaths, nixEnv, runOk, tempDir } from "./_run.ts";
import { arcaEnv } from "./_cache_fixture.ts";

Deno.test("a path with 150 references is imported and published", async () => {
  const tmp = await tempDir();
  const nix = await nixEnv();
  const env = arcaEnv(nix, tmp.path);
  const salt = crypto.randomUUID();
  const file = `${tmp.path}/many.nix`;
  await Deno.writeTextFile(
    file,
    `let
  mk = name: script: attrs: derivation ({
    inherit name; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" script ]; PATH = "/usr/bin:/bin"; salt = "${salt}";
  } // attrs);
  leaves = builtins.genList (i: mk "arca-leaf-\${toString i}" "echo \${toString i} > $out" {}) 150;
in mk "arca-many-refs" "mkdir $out; for l in $leaves; do echo $l >> $out/refs; done" { inherit leaves; }
`,
  );
  const top = (await runOk("nix-build", [file, "--no-out-link"], { env: nix })).trim();
  const paths = (await runOk("nix-store", ["-qR", top], { env: nix })).trim().split("\n");
  try {
    assert.equal(paths.length, 151);
    const r = await arca(["import-closure", top], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /151 imported, 0 already cached, 0 failed/);
    const listed = JSON.parse((await arca(["list", "--json"], { env })).stdout) as {
      storePath: string;
      references: string[];
    }[];
    const topInfo = listed.find((i) => i.storePath === top)!;
    assert.equal(topInfo.references.length, 150);
  } finally {
    await deleteStorePaths(paths, nix);
    await tmp.cleanup();
  }
});
