/**
 * `arca sign-keygen`: makes an ed25519 signing key pair in Nix's format and
 * writes it as NAME.secret / NAME.pub next to the config file.
 */
import { dirname, join } from "node:path";
import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags, str } from "./_args.ts";
import type { Globals } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { writeKeyPair } from "../lib/io/key_files.ts";
import { formatPublicKey } from "../lib/sign/public_key.ts";
import { generateSecretKey, publicKeyOf } from "../lib/sign/secret_key.ts";

const HELP = `Usage: arca sign-keygen --name NAME [--out-dir DIR] [--force]

Generates an ed25519 signing key pair in Nix's format and writes
  DIR/NAME.secret   the secret key (mode 0600; keep it private)
  DIR/NAME.pub      the public key NAME:BASE64 (mode 0644)
DIR defaults to the configuration directory (the directory of --config,
else $XDG_CONFIG_HOME/arca or ~/.config/arca). Prints both paths and the
line to add to the nix.conf of every client that should trust this cache.
The files are interchangeable with 'nix-store --generate-binary-cache-key'.

Options:
  --name NAME      key name, conventionally a host name and a number,
                   e.g. cache.example.org-1 (letters, digits, . _ + -)
  --out-dir DIR    where to write the files (created if missing)
  --force          replace existing key files of the same name`;

// Stricter than Nix's key names because the name is also a file name.
const NAME_RE = /^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/;

/** The directory holding config.toml: `--config`'s directory, else the XDG default. */
function configDir(globals: Globals): string {
  if (globals.configPath) return dirname(globals.configPath);
  const xdg = Deno.env.get("XDG_CONFIG_HOME");
  if (xdg) return join(xdg, "arca");
  const home = Deno.env.get("HOME");
  if (!home) throw new UsageError("cannot find the config directory: set HOME or use --out-dir");
  return join(home, ".config", "arca");
}

export const signKeygenCommand: Command = {
  name: "sign-keygen",
  help: HELP,
  async run(argv, globals) {
    const p = parseFlags(argv, {
      "name": { type: "string" },
      "out-dir": { type: "string" },
      "force": { type: "boolean" },
    }, globals);
    expectPositionals(p, 0, 0, "");
    const name = str(p, "name");
    if (name === undefined) throw new UsageError("missing --name NAME (e.g. cache.example.org-1)");
    if (!NAME_RE.test(name)) {
      throw new UsageError(
        `bad key name '${name}': use letters, digits, '.', '_', '+', '-' (not starting with '.')`,
      );
    }
    const dir = str(p, "out-dir") ?? configDir(p.globals);
    const key = generateSecretKey(name, crypto.getRandomValues(new Uint8Array(32)));
    const paths = await writeKeyPair(dir, key, bool(p, "force"));
    const pub = formatPublicKey(publicKeyOf(key));
    console.log(`secret key: ${paths.secretPath} (keep it private)`);
    console.log(`public key: ${paths.publicPath}`);
    console.log(`Add to the nix.conf of clients that trust this cache:`);
    console.log(`  trusted-public-keys = ${pub}`);
    return 0;
  },
};
