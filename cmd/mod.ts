/**
 * The command table. Add a command by writing `cmd/<name>.ts` exporting a
 * `Command` and listing it here with its one-line summary (the order is the
 * help order).
 *
 * Each command's module is imported only when it runs: the whole program is
 * ~280 modules, and loading all of them before `main` starts took 60-100 ms
 * of every start (a post-build hook after each build, `serve` under
 * systemd). A command now loads only its own graph.
 */
import type { Command } from "./_command.ts";

export interface CommandEntry {
  /** The word typed after `arca`. */
  name: string;
  /** One line for `arca --help`. */
  summary: string;
  /** Imports the command's module. */
  load(): Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "serve",
    summary: "serve the cache to Nix over HTTP (a substituter)",
    load: async () => (await import("./serve.ts")).serveCommand,
  },
  {
    name: "swarm",
    summary: "share the cache with peers: discovery, encrypted links, narinfo replication",
    load: async () => (await import("./swarm.ts")).swarmCommand,
  },
  {
    name: "import",
    summary: "import store paths into the cache (their references must be cached already)",
    load: async () => (await import("./import.ts")).importCommand,
  },
  {
    name: "import-closure",
    summary: "import a store path or flake output with everything it references",
    load: async () => (await import("./import_closure.ts")).importClosureCommand,
  },
  {
    name: "list",
    summary: "list the cached store paths",
    load: async () => (await import("./list.ts")).listCommand,
  },
  {
    name: "status",
    summary: "show what the cache holds: paths, bytes, dedup ratio, segments, peers",
    load: async () => (await import("./status.ts")).statusCommand,
  },
  {
    name: "audit",
    summary: "show the audit log (imports, downloads, removals)",
    load: async () => (await import("./audit.ts")).auditCommand,
  },
  {
    name: "gc",
    summary: "remove old or least-recently-used paths and free their space",
    load: async () => (await import("./gc.ts")).gcCommand,
  },
  {
    name: "pin",
    summary: "keep store paths and their closures through gc",
    load: async () => (await import("./pin.ts")).pinCommand,
  },
  {
    name: "unpin",
    summary: "remove pins or named gc roots",
    load: async () => (await import("./pin.ts")).unpinCommand,
  },
  {
    name: "pins",
    summary: "list pins and gc roots",
    load: async () => (await import("./pin.ts")).pinsCommand,
  },
  {
    name: "verify",
    summary: "re-hash every chunk and NAR; check every path's references",
    load: async () => (await import("./verify.ts")).verifyCommand,
  },
  {
    name: "sign-keygen",
    summary: "create a signing key pair (NAME.secret, NAME.pub) for narinfo signatures",
    load: async () => (await import("./sign_keygen.ts")).signKeygenCommand,
  },
  {
    name: "sign",
    summary: "add a signature to cached paths (key rotation)",
    load: async () => (await import("./sign.ts")).signCommand,
  },
  {
    name: "install-hook",
    summary: "make Nix import every build's outputs into the cache (post-build hook)",
    load: async () => (await import("./install_hook.ts")).installHookCommand,
  },
  {
    name: "hook",
    summary: "the post-build hook: import $OUT_PATHS (see install-hook)",
    load: async () => (await import("./hook.ts")).hookCommand,
  },
  {
    name: "keygen",
    summary: "print a fresh random 256-bit topic key (64 hex characters)",
    load: async () => (await import("./keygen.ts")).keygenCommand,
  },
  {
    name: "config",
    summary: "print the effective configuration (or the commented template)",
    load: async () => (await import("./config.ts")).configCommand,
  },
];

export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.name === name);
}
