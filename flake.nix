{
  description = "Arca: a peer-to-peer Nix binary cache";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      denoJson = builtins.fromJSON (builtins.readFile ./deno.json);
      version = builtins.head
        (builtins.match ".*VERSION = \"([^\"]+)\".*" (builtins.replaceStrings [ "\n" ] [ " " ]
          (builtins.readFile ./lib/version.ts)));
    in
    {
      packages = forAll (pkgs: rec {
        # npm packages pinned by the integrity hashes in deno.lock.
        npmDeps = import ./nix/npm_deps.nix { inherit pkgs; lock = ./deno.lock; };
        # The single binary (`deno compile` with nixpkgs' deno and its denort).
        arca = import ./nix/package.nix {
          inherit pkgs npmDeps version;
          src = self;
          compileTask = denoJson.tasks.compile;
        };
        default = arca;
      });

      apps = forAll (pkgs: {
        default = { type = "app"; program = "${self.packages.${pkgs.system}.default}/bin/arca"; };
      });

      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = [ pkgs.deno pkgs.nix pkgs.nginx pkgs.wrk pkgs.chromium pkgs.prometheus ];
        };
      });

      nixosModules.default = import ./nix/module.nix self;
    };
}
