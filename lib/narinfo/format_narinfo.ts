/**
 * Prints a narinfo in the order and spelling Nix 2.8 writes (`NarInfo::to_string`
 * in libstore nar-info.cc): StorePath, URL, Compression (always), FileHash,
 * FileSize, NarHash, NarSize, References (even when empty), Deriver, Sig...,
 * CA; hashes as `algo:<nix32>`. Sig lines keep the given order (Nix sorts
 * them; signNarinfo keeps them sorted so both agree).
 *
 * @example
 * ```ts
 * import { formatNarinfo } from "./format_narinfo.ts";
 * const text = formatNarinfo({
 *   storePath: "/nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib",
 *   url: "nar/a.nar",
 *   compression: "none",
 *   narHash: { algo: "sha256", digest: new Uint8Array(32) },
 *   narSize: 120,
 *   references: [],
 *   sigs: [],
 * });
 * if (!text.includes("\nReferences: \n")) throw new Error(text);
 * ```
 */
import { formatHash } from "../hash/format_hash.ts";
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { type NarInfo, NarinfoError } from "./narinfo.ts";

/**
 * Prints `info`. Throws `NarinfoError` when a value would break the line
 * format (a line break in it) or the store path is outside `storeDir`.
 */
export function formatNarinfo(info: NarInfo, storeDir: string = DEFAULT_STORE_DIR): string {
  if (!info.storePath.startsWith(storeDir + "/")) {
    throw new NarinfoError(
      `Cannot format narinfo: StorePath '${info.storePath}' is not in '${storeDir}'`,
    );
  }
  let s = "";
  const line = (key: string, value: string) => {
    if (/[\r\n]/.test(value)) {
      throw new NarinfoError(`Cannot format narinfo: ${key} contains a line break`);
    }
    s += `${key}: ${value}\n`;
  };
  line("StorePath", info.storePath);
  line("URL", info.url);
  line("Compression", info.compression === "" ? "bzip2" : info.compression);
  if (info.fileHash !== undefined) line("FileHash", formatHash(info.fileHash));
  if (info.fileSize !== undefined) line("FileSize", String(info.fileSize));
  line("NarHash", formatHash(info.narHash));
  line("NarSize", String(info.narSize));
  line("References", info.references.join(" "));
  if (info.deriver !== undefined) line("Deriver", info.deriver);
  for (const sig of info.sigs) line("Sig", sig);
  if (info.ca !== undefined) line("CA", info.ca);
  return s;
}
