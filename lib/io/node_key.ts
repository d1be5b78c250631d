/**
 * The swarm node's static key: its identity on peer links (an X25519 key
 * pair). Kept in one secret file, `arca-node-1:<base64 of the 32-byte
 * private key>`, mode 0600, made on first use.
 *
 * @module
 */
import { decodeBase64, encodeBase64 } from "../encoding/mod.ts";
import { generateKeyPair, type KeyPair, keyPairFromPrivate } from "../swarm/noise/mod.ts";
import { checkPrivate, KeyFileError, writeNew } from "./key_files.ts";

const PREFIX = "arca-node-1:";

/** Reads the node key at `path`, or makes one there when the file does not exist. */
export async function loadNodeKey(path: string): Promise<{ key: KeyPair; created: boolean }> {
  let text: string;
  try {
    await checkPrivate(path, "node key file");
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof KeyFileError) || !(await missing(path))) throw e;
    const key = generateKeyPair();
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir) await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await writeNew(path, `${PREFIX}${encodeBase64(key.privateKey)}\n`, 0o600);
    return { key, created: true };
  }
  const t = text.trim();
  let raw: Uint8Array | undefined;
  try {
    raw = t.startsWith(PREFIX) ? decodeBase64(t.slice(PREFIX.length)) : undefined;
  } catch { /* reported below */ }
  if (!raw || raw.length !== 32) {
    throw new KeyFileError(`${path} is not an Arca node key ("${PREFIX}" and 32 bytes in base64)`);
  }
  return { key: keyPairFromPrivate(raw), created: false };
}

async function missing(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return false;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}
