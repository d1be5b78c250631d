{
  description = "Arca: a peer-to-peer Nix binary cache";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      # Minimal for now: a wrapper that runs the sources with nixpkgs' Deno.
      # The self-contained `deno compile` binary (with vendored npm packages
      # and nixpkgs' denort) comes with the packaging issue.
      packages = forAll (pkgs: {
        default = pkgs.writeShellApplication {
          name = "arca";
          runtimeInputs = [ pkgs.deno pkgs.nix ];
          text = ''
            exec deno run -A --v8-flags=--optimize-for-size --config ${self}/deno.json ${self}/main.ts "$@"
          '';
        };
      });

      apps = forAll (pkgs: {
        default = { type = "app"; program = "${self.packages.${pkgs.system}.default}/bin/arca"; };
      });

      devShells = forAll (pkgs: {
        default = pkgs.mkShell { packages = [ pkgs.deno pkgs.nix pkgs.nginx pkgs.wrk ]; };
      });

      nixosModules.default = import ./nix/module.nix self;
    };
}
