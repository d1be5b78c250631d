# `arca` as one self-contained executable: `deno compile` with nixpkgs'
# Deno, its `denort` runtime (which `deno compile` otherwise downloads), and
# the npm packages from deno.lock (npm_deps.nix). The compile command is
# deno.json's own `compile` task, so the workers, the WASM file and the V8
# flags it includes are the ones developers build with. Two flags are
# added: `--node-modules-dir=manual`, so Deno uses the node_modules given
# here as they are and never looks for a registry, and `--no-check`: type
# checking is `deno task check`'s job, and here it would want @types/node.
{ pkgs, src, npmDeps, compileTask, version }:
let
  compile =
    let m = builtins.match "deno compile (.*)" compileTask; in
    if m == null then throw "package.nix: deno.json's compile task does not start with 'deno compile'"
    else "deno compile --node-modules-dir=manual --no-check ${builtins.head m}";
in
pkgs.stdenv.mkDerivation {
  pname = "arca";
  inherit version src;
  nativeBuildInputs = [ pkgs.deno ];
  dontConfigure = true;
  buildPhase = ''
    runHook preBuild
    export HOME="$TMPDIR" DENO_DIR="$TMPDIR/deno" DENO_NO_UPDATE_CHECK=1
    export DENORT_BIN=${pkgs.deno}/bin/denort
    rm -rf node_modules
    cp -R ${npmDeps} node_modules
    chmod -R u+w node_modules
    ${compile}
    runHook postBuild
  '';
  installPhase = ''
    runHook preInstall
    install -Dm755 arca "$out/bin/arca"
    runHook postInstall
  '';
  # The program is appended to the denort executable: strip or patchelf would cut it off.
  dontFixup = true;
  passthru = { inherit npmDeps; compileCommand = compile; };
  meta = {
    description = "A peer-to-peer Nix binary cache";
    mainProgram = "arca";
    platforms = [ "x86_64-linux" "aarch64-linux" ];
  };
}
