/** Rules for directory entry names, shared by the encoders and the parser (Nix's rules). */

const DOT = 0x2e;
const SLASH = 0x2f;

/** Why `name` (UTF-8 bytes) cannot be a NAR entry name, or undefined when it can. */
export function nameProblem(name: Uint8Array): string | undefined {
  if (name.length === 0) return "empty entry name";
  if (name.length === 1 && name[0] === DOT) return 'entry name "." is not allowed';
  if (name.length === 2 && name[0] === DOT && name[1] === DOT) {
    return 'entry name ".." is not allowed';
  }
  if (name.includes(SLASH)) return `entry name ${showBytes(name)} contains "/"`;
  if (name.includes(0)) return `entry name ${showBytes(name)} contains NUL`;
  return undefined;
}

/**
 * `nameProblem` for a name given as a string, without encoding the names
 * that have none: UTF-8 writes "/", "." and NUL only as themselves.
 */
export function nameProblemOf(name: string): string | undefined {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    return nameProblem(new TextEncoder().encode(name));
  }
  return undefined;
}

/** Orders byte strings as memcmp does (the order of Nix's std::map<std::string>). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/**
 * Orders strings by their UTF-8 bytes (code point order) without encoding
 * them: UTF-16 code units sort the same way, except that surrogates (halves
 * of code points above U+FFFF) must come after U+E000..U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

const lossy = new TextDecoder();

/** A short, quoted, printable form of some bytes for error messages. */
export function showBytes(bytes: Uint8Array, max = 40): string {
  const text = lossy.decode(bytes.subarray(0, max));
  return JSON.stringify(text) + (bytes.length > max ? "…" : "");
}
