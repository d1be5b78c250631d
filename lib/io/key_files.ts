/**
 * Signing key files on disk: `NAME.secret` (mode 0600 from the moment it
 * exists) and `NAME.pub` (0644), the layout `arca sign-keygen` writes and
 * the server reads. Secret files readable by group or others are refused,
 * as ssh does, rather than silently used.
 */
import { join } from "node:path";
import { type PublicKey, type SecretKey } from "../sign/keys.ts";
import { parsePublicKey } from "../sign/public_key.ts";
import { formatSecretKey, parseSecretKey, publicKeyOf } from "../sign/secret_key.ts";
import { formatPublicKey } from "../sign/public_key.ts";

/** A key file that is missing, clashing, unsafe or unreadable; the message names the file. */
export class KeyFileError extends Error {
  override name = "KeyFileError";
}

/** Where `writeKeyPair` put the two files. */
export interface KeyPairPaths {
  secretPath: string;
  publicPath: string;
}

/**
 * Writes `<dir>/<name>.secret` and `<dir>/<name>.pub`, creating `dir` (0700)
 * if needed. Without `force`, refuses when either file exists. The secret is
 * written to a fresh temporary file created with mode 0600 and renamed into
 * place, so it is never briefly readable and a forced overwrite cannot
 * inherit an old file's looser mode.
 */
export async function writeKeyPair(
  dir: string,
  key: SecretKey,
  force = false,
): Promise<KeyPairPaths> {
  const secretPath = join(dir, `${key.name}.secret`);
  const publicPath = join(dir, `${key.name}.pub`);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  if (!force) {
    for (const p of [secretPath, publicPath]) {
      if (await exists(p)) {
        throw new KeyFileError(`refusing to overwrite existing key file ${p} (use --force)`);
      }
    }
  }
  await writeNew(secretPath, formatSecretKey(key) + "\n", 0o600);
  await writeNew(publicPath, formatPublicKey(publicKeyOf(key)) + "\n", 0o644);
  return { secretPath, publicPath };
}

/** Reads and checks a secret key file: a regular file, not readable by group or others. */
export async function readSecretKeyFile(path: string): Promise<SecretKey> {
  await checkPrivate(path, "secret key file");
  const text = await readText(path, "secret");
  try {
    return parseSecretKey(text);
  } catch (e) {
    throw new KeyFileError(`${path}: ${(e as Error).message}`);
  }
}

/**
 * Reads upload tokens from a file that only its owner may read (as secret
 * key files): one token per line; blank lines and lines starting with `#`
 * are skipped.
 */
export async function readTokenFile(path: string): Promise<string[]> {
  await checkPrivate(path, "token file");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new KeyFileError(`cannot read token file ${path}: ${(e as Error).message}`);
  }
  const tokens: string[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (/\s/.test(line)) {
      throw new KeyFileError(`${path}:${i + 1}: a token cannot contain whitespace`);
    }
    tokens.push(line);
  }
  return tokens;
}

/** A secret file must be a regular file that only its owner can read. */
export async function checkPrivate(path: string, what: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new KeyFileError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  if (!info.isFile) throw new KeyFileError(`${what} ${path} is not a regular file`);
  const mode = info.mode ?? 0;
  if ((mode & 0o077) !== 0) {
    throw new KeyFileError(
      `${what} ${path} is readable by group or others (mode ${
        (mode & 0o777).toString(8).padStart(4, "0")
      }); run: chmod 600 ${path}`,
    );
  }
}

/** Reads a public key file (`name:base64`). */
export async function readPublicKeyFile(path: string): Promise<PublicKey> {
  const text = await readText(path, "public");
  try {
    return parsePublicKey(text);
  } catch (e) {
    throw new KeyFileError(`${path}: ${(e as Error).message}`);
  }
}

async function readText(path: string, kind: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new KeyFileError(`cannot read ${kind} key file ${path}: ${(e as Error).message}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Writes `text` to a new temporary file with `mode`, then renames it over `path`. */
export async function writeNew(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true, mode });
    try {
      await f.write(new TextEncoder().encode(text));
      // The umask may have narrowed the mode; only ever widen the public file.
      if (mode !== 0o600) await Deno.chmod(tmp, mode);
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new KeyFileError(`cannot write ${path}: ${(e as Error).message}`);
  }
}
