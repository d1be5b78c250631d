/**
 * A stand-in for `cachix push` (the real client is Haskell and not
 * installable here), written for the tests to send exactly what cachix
 * 1.11.1 sends. Every route, header and JSON field below was checked
 * against the client's source at tag v1.11.1, commit
 * a66a440c321d35f7193472c317f42a55ccd1cb93 of github.com/cachix/cachix:
 *
 * | what | source (at that commit) | here |
 * |---|---|---|
 * | base URL `<host>/api/v1`, routes `cache/<name>/…` | cachix-api/src/Cachix/API.hs (`type API = "api" :> "v1" :> …`) | `CachixClient` |
 * | `Authorization: Bearer <token>`, empty token when only a signing key is set | servant-auth-client `Auth` client instance; `getCacheAuthToken`, Push.hs | `#send` |
 * | `User-Agent: cachix 1.11.1` | `customManagerSettings`, Client/Env.hs; Client/Version.hs | `#send` |
 * | `GET cache/<name>` → `BinaryCache` {name, uri, isPublic, publicSigningKeys, githubUsername, permission, preferredCompressionMethod "XZ"\|"ZSTD"}, only without a signing key | `getCache`, API.hs; Types/BinaryCache.hs; `withPushParams'`, Command/Push.hs | `getCache` |
 * | closure in `std::set<StorePath>` order (by basename), then `POST cache/<name>/narinfo` `["<hash>",…]` in batches of 32768 → missing hashes | `computeClosure`, `queryNarInfoBulk`, Push.hs | `pushClosure` |
 * | missing paths pushed `numJobs` (8) at a time, in that order | `pushClosure`, `mapConcurrentlyBounded`; `defaultNumJobs`, OptionsParser.hs | `pushClosure` |
 * | NarHash `sha256:<nix32>` of the NAR, NarSize; must equal the store's | `streamUploadNar`, `newNarInfoCreate` (NarHashMismatch), Push.hs | `preparePath` |
 * | compression zstd (default) or xz, level 2 | `defaultCompressionLevel`, `defaultCompressionMethod`, OptionsParser.hs; `Zstd.compress`/`Lzma.compress (Just l)`, Push.hs | `preparePath` |
 * | FileHash = base16 sha256 of the compressed bytes, FileSize | `passthroughHashSinkB16`, Cachix/API/Signing.hs | `preparePath` |
 * | `POST cache/<name>/multipart-nar?compression=zst\|xz` → {narId: UUID, uploadId} | `createNar`, API.hs; `CreateMultipartUploadResponse`, Types/MultipartUpload.hs; `toUrlPiece`, BinaryCache.hs | `createNar` |
 * | parts of `chunkSize` (default 32 MiB, at least 5 MiB), numbered from 1, a last part always (empty when the size divides) | `chunkStream`, `processAndChunkOutputRaw`, cachix/src/Data/Conduit/ByteString.hs; `defaultChunkSize`, OptionsParser.hs | `splitParts` |
 * | per part: `POST cache/<name>/multipart-nar/<narId>?uploadId=…&partNumber=N` {contentMD5: base64 MD5} → {uploadUrl} | `uploadNarPart`, API.hs; `SigningData`, `UploadPartResponse`, MultipartUpload.hs; `uploadPart`, Push/S3.hs | `uploadNarPart` |
 * | `PUT <uploadUrl>` with `Content-Type: application/octet-stream`, `Content-MD5`, no token; ETag header read back | `uploadPart`, Push/S3.hs | `putPart` |
 * | 4 parts at a time, results in part order; a missing ETag makes `parts` null | `numConcurrentChunks` (4), `concurrentMapM`, `sequenceA`, Push/S3.hs | `pushPath` |
 * | errors while sending parts: `POST …/<narId>/abort?uploadId=…` | `abortMultipartUpload`, API.hs and Push/S3.hs | `pushPath` |
 * | `POST …/<narId>/complete?uploadId=…` {parts: [{partNumber, eTag}] \| null, narInfoCreate} | `completeNarUpload`, API.hs and Push.hs; `CompletedMultipartUpload`, `CompletedPart` | `complete` |
 * | narInfoCreate {cStoreHash, cStoreSuffix, cNarHash, cNarSize, cFileHash, cFileSize, cReferences (basenames, sorted), cDeriver (basename or "unknown-deriver"), cSig (base64 or null)} | `NarInfoCreate`, Types/NarInfoCreate.hs; `newNarInfoCreate`, `splitStorePath`, Push.hs | `preparePath` |
 * | cSig = base64 ed25519 of `1;<path>;<narHash>;<narSize>;<refs as full paths, comma-joined>`, by CACHIX_SIGNING_KEY (base64 of the 64-byte secret key) | `fingerprint`, Signing.hs; `dsign` in `newNarInfoCreate`; `parseSigningKeyLenient`, Client/Secrets.hs | `sign` |
 * | JSON requests `Content-Type: application/json;charset=utf-8` | servant-client's JSON content type | `#send` |
 *
 * Not copied: the client's retries (`retryAll`, `retryHttp`): a test wants
 * to see the first answer. `allowSmallChunks` lets a test use parts under
 * the client's 5 MiB minimum (only to reach the empty-last-part case cheaply).
 */
import { Buffer } from "node:buffer";
import { createHash, createPrivateKey, sign as edSign } from "node:crypto";
import { runOk } from "./_run.ts";

export const CLIENT_VERSION = "1.11.1";
const MIN_CHUNK = 5 * 1024 * 1024;

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // deno-lint-ignore no-explicit-any
  json: any;
}

/** The client's servant calls, one method per route; answers are returned, not thrown. */
export class CachixClient {
  /** `METHOD /path` of every request, in order. */
  readonly log: string[] = [];

  constructor(readonly host: string, readonly cache: string, readonly token = "") {}

  getCache(): Promise<Answer> {
    return this.#call("GET", "", undefined);
  }

  narinfoBulk(hashes: string[]): Promise<Answer> {
    return this.#call("POST", "/narinfo", hashes);
  }

  narinfoHead(hash: string): Promise<Answer> {
    return this.#call("HEAD", `/${hash}.narinfo`, undefined, false);
  }

  createNar(compression: "xz" | "zstd" | string): Promise<Answer> {
    const c = compression === "zstd" ? "zst" : compression;
    return this.#call("POST", `/multipart-nar?compression=${encodeURIComponent(c)}`, undefined);
  }

  uploadNarPart(narId: string, uploadId: string, n: number, contentMD5: string): Promise<Answer> {
    const q = `uploadId=${encodeURIComponent(uploadId)}&partNumber=${n}`;
    return this.#call("POST", `/multipart-nar/${narId}?${q}`, { contentMD5 });
  }

  async putPart(url: string, part: Uint8Array<ArrayBuffer>, contentMD5: string): Promise<Answer> {
    this.log.push(`PUT ${new URL(url).pathname}`);
    const res = await fetch(url, {
      method: "PUT",
      body: part,
      headers: {
        "content-type": "application/octet-stream",
        "content-md5": contentMD5,
        "user-agent": `cachix ${CLIENT_VERSION}`,
      },
    });
    return await answer(res);
  }

  complete(narId: string, uploadId: string, body: unknown): Promise<Answer> {
    const q = `uploadId=${encodeURIComponent(uploadId)}`;
    return this.#call("POST", `/multipart-nar/${narId}/complete?${q}`, body, false);
  }

  abort(narId: string, uploadId: string): Promise<Answer> {
    const q = `uploadId=${encodeURIComponent(uploadId)}`;
    return this.#call("POST", `/multipart-nar/${narId}/abort?${q}`, undefined, false);
  }

  /** A request with a raw body (for malformed-input tests). */
  raw(method: string, sub: string, body: string): Promise<Answer> {
    return this.#send(method, sub, body, false);
  }

  /**
   * `json`: the route answers JSON, so servant-client sends Accept and, on
   * success, needs a JSON Content-Type and exactly the declared 200 (any other
   * status is a `FailureResponse`); `NoContent` routes need only the 200.
   */
  #call(method: string, sub: string, body: unknown, json = true): Promise<Answer> {
    return this.#send(method, sub, body === undefined ? undefined : JSON.stringify(body), json);
  }

  async #send(method: string, sub: string, body: string | undefined, json: boolean) {
    const url = `${this.host}/api/v1/cache/${this.cache}${sub}`;
    this.log.push(`${method} ${new URL(url).pathname}`);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      "user-agent": `cachix ${CLIENT_VERSION}`,
    };
    if (json) headers.accept = "application/json;charset=utf-8,application/json";
    if (body !== undefined) headers["content-type"] = "application/json;charset=utf-8";
    const a = await answer(await fetch(url, { method, body, headers }));
    if (
      json && a.status === 200 && !/^application\/json/.test(a.headers.get("content-type") ?? "")
    ) {
      throw new ClientError(`${method} ${sub}: servant-client cannot decode the answer`, a);
    }
    return a;
  }
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

export interface PushOptions {
  env: Record<string, string>;
  /** CACHIX_SIGNING_KEY: base64 of a 64-byte ed25519 secret key. */
  signingKey?: string;
  /** `--compression-method`; default: the cache's preference, else zstd. */
  compressionMethod?: "xz" | "zstd";
  compressionLevel?: number;
  chunkSize?: number;
  allowSmallChunks?: boolean;
  numConcurrentChunks?: number;
  numJobs?: number;
  omitDeriver?: boolean;
  storeDir?: string;
}

/** A path ready to push: its NAR compressed, hashed and cut into parts. */
export interface PreparedPath {
  path: string;
  compression: "xz" | "zstd";
  compressed: Uint8Array<ArrayBuffer>;
  parts: Uint8Array<ArrayBuffer>[];
  narInfoCreate: Record<string, unknown>;
}

/** `cachix push <cache> <paths…>`: what it sends, in its order. Throws on the first refusal. */
export async function pushClosure(
  client: CachixClient,
  paths: string[],
  opts: PushOptions,
): Promise<{ closure: string[]; missing: string[]; compression: "xz" | "zstd" }> {
  let backend: "xz" | "zstd" | undefined;
  if (opts.signingKey === undefined) {
    const c = await client.getCache();
    if (c.status !== 200) throw new ClientError("getCache", c);
    backend = c.json.preferredCompressionMethod === "XZ" ? "xz" : "zstd";
  }
  const compression = opts.compressionMethod ?? backend ?? "zstd";
  const all = (await runOk("nix-store", ["-qR", ...paths], { env: opts.env })).trim().split("\n");
  const closure = all.sort((a, b) => cmp(base(a), base(b)));
  const hashes = closure.map((p) => base(p).slice(0, 32));
  const missingHashes = new Set<string>();
  for (let i = 0; i < hashes.length; i += 32768) {
    const r = await client.narinfoBulk(hashes.slice(i, i + 32768));
    if (r.status !== 200) throw new ClientError("narinfoBulk", r);
    for (const h of r.json as string[]) missingHashes.add(h);
  }
  const missing = closure.filter((p) => missingHashes.has(base(p).slice(0, 32)));
  await bounded(opts.numJobs ?? 8, missing, async (p) => {
    await pushPath(client, await preparePath(p, compression, opts), opts);
  });
  return { closure, missing, compression };
}

/** `uploadStorePath`: create, parts (4 at a time), complete; abort if a part fails. */
export async function pushPath(
  client: CachixClient,
  prep: PreparedPath,
  opts: Pick<PushOptions, "numConcurrentChunks"> = {},
  mutate: (body: Record<string, unknown>) => void = () => {},
): Promise<Answer> {
  const created = await client.createNar(prep.compression);
  if (created.status !== 200) throw new ClientError("createNar", created);
  const { narId, uploadId } = created.json as { narId: string; uploadId: string };
  let etags: (string | null)[];
  try {
    etags = await bounded(opts.numConcurrentChunks ?? 4, prep.parts, async (part, i) => {
      const md5 = createHash("md5").update(part).digest("base64");
      const u = await client.uploadNarPart(narId, uploadId, i + 1, md5);
      if (u.status !== 200) throw new ClientError("uploadNarPart", u);
      const put = await client.putPart(u.json.uploadUrl, part, md5);
      if (put.status !== 200) throw new ClientError("PUT part", put);
      return put.headers.get("etag");
    });
  } catch (e) {
    await client.abort(narId, uploadId);
    throw e;
  }
  const parts = etags.every((e) => e !== null)
    ? etags.map((eTag, i) => ({ partNumber: i + 1, eTag }))
    : null;
  const body = { parts, narInfoCreate: prep.narInfoCreate };
  mutate(body);
  const done = await client.complete(narId, uploadId, body);
  if (done.status !== 200) throw new ClientError("completeNarUpload", done);
  return done;
}

/** The NAR, its hashes, the compressed file, its parts and the narInfoCreate of `path`. */
export async function preparePath(
  path: string,
  compression: "xz" | "zstd",
  opts: PushOptions,
): Promise<PreparedPath> {
  const env = opts.env;
  const storeDir = opts.storeDir ?? "/nix/store";
  const q = async (flag: string) => (await runOk("nix-store", ["-q", flag, path], { env })).trim();
  const storeHash = await q("--hash");
  const references = (await q("--references")).split("\n").filter((l) => l).map(base).sort(cmp);
  const deriverPath = await q("--deriver");
  const dump = await new Deno.Command("nix-store", { args: ["--dump", path], env, stdout: "piped" })
    .output();
  if (dump.code !== 0) throw new Error(`nix-store --dump ${path} failed`);
  const nar = dump.stdout;
  const narHash = `sha256:${nix32(createHash("sha256").update(nar).digest())}`;
  if (narHash !== storeHash) throw new Error(`${path}: NarHash mismatch ${narHash} ${storeHash}`);
  const level = opts.compressionLevel ?? 2;
  const tool = compression === "xz" ? "xz" : "zstd";
  const compressed = await pipe(tool, [`-${level}`, "-c", "-q"], nar);
  const chunk = opts.allowSmallChunks
    ? opts.chunkSize ?? 32 << 20
    : Math.max(MIN_CHUNK, opts.chunkSize ?? 32 << 20);
  const deriver = opts.omitDeriver || deriverPath === "unknown-deriver"
    ? "unknown-deriver"
    : base(deriverPath);
  const fields = {
    storePath: path,
    narHash,
    narSize: nar.length,
    references,
  };
  const sig = opts.signingKey === undefined
    ? null
    : sign(opts.signingKey, fingerprint(fields, storeDir));
  return {
    path,
    compression,
    compressed,
    parts: splitParts(compressed, chunk),
    narInfoCreate: {
      cStoreHash: path.slice(11, 43),
      cStoreSuffix: path.slice(44),
      cNarHash: narHash,
      cNarSize: nar.length,
      cFileHash: createHash("sha256").update(compressed).digest("hex"),
      cFileSize: compressed.length,
      cReferences: references,
      cDeriver: deriver,
      cSig: sig,
    },
  };
}

/** `chunkStream`: full parts of `size`, then the rest, which may be empty. */
export function splitParts(b: Uint8Array<ArrayBuffer>, size: number): Uint8Array<ArrayBuffer>[] {
  const out: Uint8Array<ArrayBuffer>[] = [];
  let o = 0;
  while (b.length - o >= size) {
    out.push(b.slice(o, o + size));
    o += size;
  }
  out.push(b.slice(o));
  return out;
}

/** `fingerprint` of Cachix/API/Signing.hs. */
export function fingerprint(
  f: { storePath: string; narHash: string; narSize: number; references: string[] },
  storeDir = "/nix/store",
): string {
  const refs = f.references.map((r) => `${storeDir}/${r}`).join(",");
  return `1;${f.storePath};${f.narHash};${f.narSize};${refs}`;
}

/** `dsign` with a libsodium 64-byte secret key (seed ‖ public), as base64. */
export function sign(secretKeyB64: string, message: string): string {
  const seed = Uint8Array.from(atob(secretKeyB64.trim()), (c) => c.charCodeAt(0)).slice(0, 32);
  // The fixed PKCS#8 wrapping of a raw ed25519 seed (RFC 8410).
  const der = new Uint8Array([
    0x30,
    0x2e,
    0x02,
    0x01,
    0x00,
    0x30,
    0x05,
    0x06,
    0x03,
    0x2b,
    0x65,
    0x70,
    0x04,
    0x22,
    0x04,
    0x20,
    ...seed,
  ]);
  const key = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
  return edSign(null, new TextEncoder().encode(message), key).toString("base64");
}

/** Nix's base32 (`System.Nix.Base32.encode`): 5 bits at a time from the end. */
export function nix32(bytes: Uint8Array): string {
  const alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
  const len = Math.ceil((bytes.length * 8) / 5);
  let s = "";
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3, j = b & 7;
    const c = ((bytes[i] >> j) | (i + 1 < bytes.length ? bytes[i + 1] << (8 - j) : 0)) & 0x1f;
    s += alphabet[c];
  }
  return s;
}

export class ClientError extends Error {
  constructor(readonly call: string, readonly answer: Answer) {
    super(`${call}: ${answer.status} ${answer.text}`);
  }
}

function base(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function pipe(
  cmd: string,
  args: string[],
  input: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped" }).spawn();
  const w = child.stdin.getWriter();
  const writing = w.write(input).then(() => w.close());
  const out = await child.output();
  await writing;
  if (out.code !== 0) throw new Error(`${cmd} failed`);
  return out.stdout;
}

/**
 * Runs `f` on every item, at most `n` at once, starting them in order;
 * results in order. After a failure nothing new starts, and the first
 * failure is thrown once the running calls have ended.
 */
async function bounded<T, R>(
  n: number,
  items: T[],
  f: (t: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await f(items[i], i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  });
  const settled = await Promise.allSettled(lanes);
  const bad = settled.find((s) => s.status === "rejected");
  if (bad) throw (bad as PromiseRejectedResult).reason;
  return out;
}
