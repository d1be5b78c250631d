# NixOS module: `services.arca.enable = true;` runs `arca serve` as a
# systemd service with its cache under /var/lib/arca. Minimal for now.
self:
{ config, lib, pkgs, ... }:
let
  cfg = config.services.arca;
  toml = pkgs.formats.toml { };
in
{
  options.services.arca = {
    enable = lib.mkEnableOption "the Arca Nix binary cache";
    package = lib.mkOption {
      type = lib.types.package;
      default = self.packages.${pkgs.system}.default;
      description = "The arca package to run.";
    };
    settings = lib.mkOption {
      type = toml.type;
      default = { };
      example = { bind = "0.0.0.0:5555"; signing_key_path = "/run/keys/arca.secret"; };
      description = "Written to config.toml; see `arca config --template` for the keys.";
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services.arca = {
      description = "Arca Nix binary cache";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      environment = {
        ARCA_DIR = "/var/lib/arca";
        ARCA_CONFIG = "${toml.generate "arca-config.toml" cfg.settings}";
      };
      serviceConfig = {
        ExecStart = "${cfg.package}/bin/arca serve";
        DynamicUser = true;
        StateDirectory = "arca";
        Restart = "on-failure";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
      };
    };
  };
}
