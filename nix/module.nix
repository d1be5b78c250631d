# NixOS module: `services.arca` runs `arca serve` (or `arca swarm
# --also-serve`) as a hardened systemd service with its cache in
# /var/lib/arca. Secrets (the signing key, upload tokens, the read and
# metrics tokens) are read from files at start through systemd credentials
# or an EnvironmentFile, never copied into the Nix store.
#
# Evaluated in the tests against a stub of `lib`/`pkgs`/`config`
# (tests/fixtures/nixos_stub.nix), so it keeps to a small part of `lib`.
self:
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf mkMerge types optional optionals;
  cfg = config.services.arca;
  toToml = import ./to_toml.nix;

  # Arca's config.toml holds strings, integers, booleans, lists of those, and
  # arrays of tables ([[segments]]) whose fields are those.
  scalar = types.oneOf [ types.bool types.int types.str ];
  field = types.oneOf [ scalar (types.listOf scalar) ];
  tomlValue = types.nullOr (types.oneOf [
    scalar
    (types.listOf scalar)
    (types.attrsOf scalar)
    (types.listOf (types.attrsOf field))
  ]);

  ipv6 = lib.hasInfix ":" cfg.bind;
  bindAddr = if ipv6 then "[${cfg.bind}]:${toString cfg.port}" else "${cfg.bind}:${toString cfg.port}";
  # Where this machine's Nix reaches the cache (a wildcard bind is reached on loopback).
  localHost =
    if cfg.bind == "0.0.0.0" || cfg.bind == "" then "127.0.0.1"
    else if cfg.bind == "::" then "[::1]"
    else if ipv6 then "[${cfg.bind}]"
    else cfg.bind;
  localUrl = "http://${localHost}:${toString cfg.port}";

  # Settings the options below imply; `settings` overrides any of them.
  implied = {
    cache_dir = "/var/lib/arca";
    bind = bindAddr;
    max_size = cfg.gc.maxSize;
    max_age = cfg.gc.maxAge;
    gc_interval = cfg.gc.interval;
  };
  configFile = pkgs.writeText "arca-config.toml" (toToml (implied // cfg.settings));

  arca = "${cfg.package}/bin/arca";
  command =
    if cfg.swarm.enable then
      [ arca "swarm" "--also-serve"
        "--discovery-port" (toString cfg.swarm.discoveryPort)
        "--sync-port" (toString cfg.swarm.syncPort)
        "--http-port" (toString cfg.port) ]
      ++ lib.concatMap (p: [ "--static-peer" p ]) cfg.swarm.staticPeers
    else [ arca "serve" ];

  # Runs as root inside nix-daemon after every build: push the outputs to
  # the local cache over HTTP with an upload token, as any client would.
  # (Writing to the cache's files as root would leave files the service's
  # user cannot change.) It never fails a build.
  hook = pkgs.writeShellScript "arca-post-build-hook" ''
    set -u
    [ -n "''${OUT_PATHS:-}" ] || exit 0
    token=$(${pkgs.gnugrep}/bin/grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' \
      ${lib.escapeShellArg (toString cfg.uploadTokensFile)} | ${pkgs.coreutils}/bin/head -n 1)
    # shellcheck disable=SC2086
    ${config.nix.package}/bin/nix copy \
      --to "http://arca:$token@${localHost}:${toString cfg.port}?compression=zstd" \
      $OUT_PATHS >&2 || echo "arca post-build hook: pushing $OUT_PATHS failed" >&2
    exit 0
  '';
in
{
  options.services.arca = {
    enable = mkEnableOption "Arca, a Nix binary cache";

    package = mkOption {
      type = types.package;
      default = self.packages.${pkgs.system}.default;
      description = "The Arca package (its `bin/arca`).";
    };

    bind = mkOption {
      type = types.str;
      default = "127.0.0.1";
      example = "0.0.0.0";
      description = "Address to listen on (IPv6 without brackets, e.g. `::`).";
    };

    port = mkOption {
      type = types.port;
      default = 5555;
      description = "HTTP port: the substituter, uploads, `/metrics` and the status page at `/`.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open `port` (TCP) in the firewall.";
    };

    settings = mkOption {
      type = types.attrsOf tomlValue;
      default = { };
      example = { compression = "zstd"; priority = 30; trusted_public_keys = [ "ci-1:…" ]; };
      description = ''
        Written to config.toml: any key of Arca's configuration (`arca config --template` lists
        and explains them all); a key set here wins over what the options above imply (`bind`,
        `cache_dir`, gc limits). null leaves a key at Arca's default. Tokens do not belong here
        (the file is in the Nix store): use `uploadTokensFile` or `environmentFile`.
      '';
    };

    signingKeyFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/keys/arca-1.secret";
      description = ''
        Secret key file (`nix-store --generate-binary-cache-key`, or `arca sign-keygen`), read at
        start through a systemd credential: it may stay root-only (0600) and out of the store.
      '';
    };

    publicKey = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "arca-1:…=";
      description = "The signing key's public half (`name:base64`), for `substituter`.";
    };

    uploadTokensFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/keys/arca-upload-tokens";
      description = "File of upload tokens, one per line (a systemd credential, as the signing key).";
    };

    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/keys/arca.env";
      description = ''
        systemd EnvironmentFile with secrets: `ARCA_READ_TOKEN=…` (a private cache),
        `ARCA_METRICS_TOKEN=…`, `ARCA_UPLOAD_TOKEN=…`.
      '';
    };

    substituter = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Use the local cache: add it to `nix.settings.substituters` and `publicKey` to
        `trusted-public-keys`.
      '';
    };

    postBuildHook = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Set `nix.settings.post-build-hook` to push every build's outputs to this cache (with the
        first token of `uploadTokensFile`). A failed push never fails the build.
      '';
    };

    gc = {
      maxSize = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "50G";
        description = "Keep the cache under this size (Arca's `max_size`); null: no limit.";
      };
      maxAge = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "30d";
        description = "Remove paths neither imported nor used for this long (`max_age`).";
      };
      interval = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "1h";
        description = "How often the service collects garbage when a limit is set (`gc_interval`).";
      };
    };

    swarm = {
      enable = mkEnableOption "peer-to-peer sharing (runs `arca swarm --also-serve`)";
      discoveryPort = mkOption {
        type = types.port;
        default = 7070;
        description = "UDP port for discovery (multicast on the local network).";
      };
      syncPort = mkOption {
        type = types.port;
        default = 7071;
        description = "TCP port peers sync over.";
      };
      staticPeers = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "cache2.lan:7071" ];
        description = "Peers to reach without discovery, `HOST:PORT` each.";
      };
      openFirewall = mkOption {
        type = types.bool;
        default = false;
        description = "Open the discovery (UDP) and sync (TCP) ports.";
      };
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = !cfg.substituter || cfg.publicKey != null;
          message = "services.arca.substituter needs services.arca.publicKey (the signing key's public half).";
        }
        {
          assertion = !cfg.postBuildHook || cfg.uploadTokensFile != null;
          message = "services.arca.postBuildHook pushes with a token: set services.arca.uploadTokensFile.";
        }
      ];

      systemd.services.arca = {
        description = "Arca Nix binary cache";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        environment = {
          ARCA_CONFIG = "${configFile}";
          ARCA_DIR = "/var/lib/arca";
          HOME = "/var/lib/arca";
          # Deno's own caches (none are needed by the compiled binary) stay in the state dir.
          DENO_DIR = "/var/lib/arca/.deno";
          DENO_NO_UPDATE_CHECK = "1";
        }
        # %d is the credentials directory systemd fills from LoadCredential.
        // lib.optionalAttrs (cfg.signingKeyFile != null) { ARCA_SIGNING_KEY = "%d/signing-key"; }
        // lib.optionalAttrs (cfg.uploadTokensFile != null) { ARCA_UPLOAD_TOKENS_FILE = "%d/upload-tokens"; };

        serviceConfig = {
          ExecStart = lib.escapeShellArgs command;
          # `serve` stops on SIGTERM: it stops accepting, lets responses finish (up to 30 s),
          # writes pending access times and audit events, and exits 0.
          KillSignal = "SIGTERM";
          TimeoutStopSec = 45;
          Restart = "on-failure";
          RestartSec = 2;

          DynamicUser = true;
          User = "arca";
          Group = "arca";
          StateDirectory = "arca";
          StateDirectoryMode = "0750";
          WorkingDirectory = "/var/lib/arca";
          LoadCredential =
            optional (cfg.signingKeyFile != null) "signing-key:${cfg.signingKeyFile}"
            ++ optional (cfg.uploadTokensFile != null) "upload-tokens:${cfg.uploadTokensFile}";
          EnvironmentFile = optional (cfg.environmentFile != null) cfg.environmentFile;
          UMask = "0077";
          # Up to 4096 connections, plus the pack files a NAR download opens.
          LimitNOFILE = 65536;

          NoNewPrivileges = true;
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
          PrivateDevices = true;
          PrivateUsers = cfg.port >= 1024;
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectControlGroups = true;
          ProtectClock = true;
          ProtectHostname = true;
          ProtectProc = "invisible";
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          LockPersonality = true;
          RemoveIPC = true;
          # No MemoryDenyWriteExecute: V8's JIT writes the machine code it then runs (as does
          # the FFI trampoline that calls libc's epoll, sendfile and mallopt); with it Deno
          # cannot start.
          #
          # TCP and UDP over IPv4/IPv6 (the swarm's multicast discovery is UDP), Unix sockets
          # (the journal), netlink (listing interfaces to join multicast groups on).
          RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" "AF_NETLINK" ];
          SystemCallArchitectures = "native";
          # @system-service has what Deno and Arca's FFI calls need (epoll_*, sendfile, mmap,
          # madvise, io and network calls); @pkey lets V8 write-protect its JIT code with memory
          # protection keys. Refused calls fail with EPERM instead of killing the process.
          SystemCallFilter = [ "@system-service" "@pkey" "~@privileged" ];
          SystemCallErrorNumber = "EPERM";
          CapabilityBoundingSet = if cfg.port < 1024 then [ "CAP_NET_BIND_SERVICE" ] else [ "" ];
          AmbientCapabilities = optionals (cfg.port < 1024) [ "CAP_NET_BIND_SERVICE" ];
        };
      };
    }

    (mkIf cfg.openFirewall { networking.firewall.allowedTCPPorts = [ cfg.port ]; })

    (mkIf (cfg.swarm.enable && cfg.swarm.openFirewall) {
      networking.firewall.allowedTCPPorts = [ cfg.swarm.syncPort ];
      networking.firewall.allowedUDPPorts = [ cfg.swarm.discoveryPort ];
    })

    (mkIf cfg.substituter {
      nix.settings.substituters = [ localUrl ];
      nix.settings.trusted-public-keys = [ cfg.publicKey ];
    })

    (mkIf cfg.postBuildHook { nix.settings.post-build-hook = hook; })
  ]);
}
