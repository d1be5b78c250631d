/**
 * Parses a narinfo strictly, following Nix's reader (`NarInfo::NarInfo` in
 * libstore nar-info.cc) and rejecting what it would misread:
 * - lines are `Key: value` ended by LF; CR anywhere is an error (Nix would
 *   keep it in the value), and so is a missing final LF (Nix fails on that too);
 * - every key except `Sig` appears at most once; unknown keys are ignored;
 * - `StorePath`, `URL`, `NarHash` and a non-zero `NarSize` are required;
 *   no `Compression` line (or an empty one) means `bzip2`, as in Nix;
 * - `References` and `Deriver` are store path basenames; `Deriver:
 *   unknown-deriver` means none, as in Nix.
 *
 * @example
 * ```ts
 * import { parseNarinfo } from "./parse_narinfo.ts";
 * const info = parseNarinfo(
 *   "StorePath: /nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib\n" +
 *     "URL: nar/x.nar\nNarHash: sha256:0qklgqgr2wj2v6iihmyflaql1w16gfqn3k4cxdblankzmljm90y5\n" +
 *     "NarSize: 2592\n",
 * );
 * if (info.compression !== "bzip2" || info.references.length !== 0) throw new Error("parse");
 * ```
 */
import type { Hash } from "../hash/hash.ts";
import { parseHash } from "../hash/parse_hash.ts";
import { parseStorePath, parseStorePathBase } from "../store_path/parse_store_path.ts";
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { type NarInfo, NarinfoError } from "./narinfo.ts";

const PREFIX = "Cannot parse narinfo";

export function parseNarinfo(text: string, storeDir: string = DEFAULT_STORE_DIR): NarInfo {
  if (text === "") throw new NarinfoError(`${PREFIX}: empty input`);
  const cr = text.indexOf("\r");
  if (cr >= 0) {
    throw new NarinfoError(
      `${PREFIX}: line ${lineOf(text, cr)}: carriage return (CRLF line endings are not allowed)`,
    );
  }
  const lines = text.split("\n");
  if (lines[lines.length - 1] !== "") {
    throw new NarinfoError(`${PREFIX}: line ${lines.length}: missing newline at the end`);
  }
  lines.pop();

  let storePath: string | undefined;
  let url: string | undefined;
  let compression = "";
  let fileHash: Hash | undefined;
  let fileSize: number | undefined;
  let narHash: Hash | undefined;
  let narSize: number | undefined;
  let references: string[] = [];
  let deriver: string | undefined;
  const sigs: string[] = [];
  let ca: string | undefined;
  const seen = new Map<string, number>();

  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i];
    const fail = (msg: string): never => {
      throw new NarinfoError(`${PREFIX}: line ${n}: ${msg}`);
    };
    const colon = line.indexOf(":");
    if (colon < 0) fail(`missing ": " separator`);
    if (line[colon + 1] !== " ") fail(`missing space after ":"`);
    const key = line.slice(0, colon);
    const value = line.slice(colon + 2);
    if (key === "") fail("empty key");
    if (key !== "Sig") {
      const first = seen.get(key);
      if (first !== undefined) fail(`duplicate ${key} (first on line ${first})`);
      seen.set(key, n);
    }
    switch (key) {
      case "StorePath":
        storePath = value;
        guard(fail, "bad StorePath", () => parseStorePath(value, storeDir));
        break;
      case "URL":
        if (value === "") fail("empty URL");
        url = value;
        break;
      case "Compression":
        compression = value;
        break;
      case "FileHash":
        fileHash = guard(fail, "bad FileHash", () => parseHash(value));
        break;
      case "FileSize":
        fileSize = parseSize(value, "FileSize", fail);
        break;
      case "NarHash":
        narHash = guard(fail, "bad NarHash", () => parseHash(value));
        break;
      case "NarSize":
        narSize = parseSize(value, "NarSize", fail);
        if (narSize === 0) fail("NarSize is zero");
        break;
      case "References":
        // Nix tokenises on spaces, so runs of spaces are harmless.
        references = value.split(" ").filter((r) => r !== "");
        for (const r of references) guard(fail, "bad reference", () => parseStorePathBase(r));
        break;
      case "Deriver":
        if (value !== "unknown-deriver") {
          guard(fail, "bad Deriver", () => parseStorePathBase(value));
          deriver = value;
        }
        break;
      case "Sig":
        if (value === "") fail("empty Sig");
        sigs.push(value);
        break;
      case "CA":
        if (!/^(text|fixed):./.test(value)) {
          fail(`CA must start with "text:" or "fixed:": ${JSON.stringify(value)}`);
        }
        ca = value;
        break;
      default:
        // Unknown keys (e.g. System) are ignored, as Nix does.
    }
  }
  const missing = (field: string): never => {
    throw new NarinfoError(`${PREFIX}: missing field "${field}"`);
  };
  if (storePath === undefined) return missing("StorePath");
  if (url === undefined) return missing("URL");
  if (narHash === undefined) return missing("NarHash");
  if (narSize === undefined) return missing("NarSize");
  const info: NarInfo = {
    storePath,
    url,
    compression: compression === "" ? "bzip2" : compression,
    narHash,
    narSize,
    references,
    sigs,
  };
  if (fileHash !== undefined) info.fileHash = fileHash;
  if (fileSize !== undefined) info.fileSize = fileSize;
  if (deriver !== undefined) info.deriver = deriver;
  if (ca !== undefined) info.ca = ca;
  return info;
}

/** Runs `f`, turning its SyntaxError into a line-numbered narinfo error. */
function guard<T>(fail: (msg: string) => never, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SyntaxError) return fail(`${what}: ${e.message}`);
    throw e;
  }
}

function parseSize(value: string, key: string, fail: (msg: string) => never): number {
  if (!/^[0-9]+$/.test(value)) fail(`${key} is not a number: ${JSON.stringify(value)}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) fail(`${key} is too large: ${value}`);
  return n;
}

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < index; i = text.indexOf("\n", i + 1)) n++;
  return n;
}
