# The npm packages of deno.lock as a node_modules directory, laid out as
# Deno lays it out itself (`nodeModulesDir: "auto"`):
#
#   node_modules/<name> -> .deno/<name>@<version>/node_modules/<name>
#   node_modules/.deno/<name>@<version>/node_modules/<dep> -> ../../<dep>@<v>/node_modules/<dep>
#
# Each tarball is a fixed-output fetch pinned by the sha512 integrity that
# deno.lock records for it, so the lock file is the only place a hash is
# kept: `deno install` (or any command that updates deno.lock) is all an
# update takes. Lifecycle scripts are not run (Arca uses node-liblzma's
# WASM build, not its native addon).
{ pkgs, lock }:
let
  inherit (builtins)
    attrNames concatStringsSep elemAt filter fromJSON head length match readFile replaceStrings;
  npm = (fromJSON (readFile lock)).npm or { };

  # "name@1.2.3", "@scope/name@1.2.3", with an optional "_peer@x" suffix.
  parse = key:
    let m = match "(@?[^@]+)@([^_]+)(_.*)?" key; in
    if m == null then throw "npm_deps: cannot read the deno.lock entry ${key}"
    else { name = elemAt m 0; version = elemAt m 1; };

  baseName = name: let m = match "@[^/]+/(.*)" name; in if m == null then name else head m;

  # A dependency is listed as "name" (the one version in the lock) or "name@version".
  resolve = dep:
    if npm ? ${dep} then dep
    else
      let found = filter (k: (parse k).name == dep) (attrNames npm); in
      if length found == 1 then head found
      else throw "npm_deps: dependency ${dep} is ambiguous or missing in deno.lock";

  package = key:
    let p = parse key; in
    p // {
      inherit key;
      dir = "${p.name}@${p.version}";
      tarball = pkgs.fetchurl {
        name = "${replaceStrings [ "@" "/" ] [ "" "-" ] p.name}-${p.version}.tgz";
        url = "https://registry.npmjs.org/${p.name}/-/${baseName p.name}-${p.version}.tgz";
        hash = npm.${key}.integrity;
      };
      deps = map (d: let q = parse (resolve d); in q // { dir = "${q.name}@${q.version}"; })
        (npm.${key}.dependencies or [ ]);
    };
  packages = map package (attrNames npm);

  unpack = p: ''
    mkdir -p "$out/.deno/${p.dir}/node_modules/${p.name}"
    tar -xzf ${p.tarball} --strip-components=1 --no-same-owner --no-same-permissions \
      -C "$out/.deno/${p.dir}/node_modules/${p.name}"
    mkdir -p "$(dirname "$out/${p.name}")"
    ln -s "${if match "@.*" p.name == null then "" else "../"}.deno/${p.dir}/node_modules/${p.name}" "$out/${p.name}"
  '' + concatStringsSep "" (map (d: ''
    mkdir -p "$(dirname "$out/.deno/${p.dir}/node_modules/${d.name}")"
    ln -s "${if match "@.*" d.name == null then "" else "../"}../../${d.dir}/node_modules/${d.name}" \
      "$out/.deno/${p.dir}/node_modules/${d.name}"
  '') p.deps);
in
pkgs.runCommand "arca-node-modules" { passthru = { inherit packages; }; } ''
  mkdir -p "$out/.deno"
  ${concatStringsSep "" (map unpack packages)}
''
