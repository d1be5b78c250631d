/**
 * Multipart uploads of compressed NAR files, the S3-style flow Cachix
 * clients push with:
 *
 * ```
 * create ─► grant part n (its Content-MD5) ─► PUT part n to its URL ─► ETag
 *        ─► complete [(1, ETag), (2, ETag), …] ─► parts 1..N joined in order
 *        (abort, or idle for `idleMs`: parts removed)
 * ```
 *
 * Parts arrive in any order and in parallel. Each is a file under the
 * cache's `tmp/`, in a folder per upload named after this process, so a
 * later start removes what a dead one left; nothing here is visible to
 * readers, and a part file is renamed into place only once its MD5 checked.
 * A part may only be PUT with the key its grant returned (256 random bits,
 * compared in constant time). Bounds: `maxOpen` uploads at once, part numbers
 * 1..`maxParts`, `maxPartBytes` per part and `maxTotalBytes` per upload.
 */
import { timingSafeEqual } from "node:crypto";
import { decodeBase64, decodeHex, encodeBase64, encodeHex } from "../encoding/mod.ts";
import { guardBody } from "./upload_streams.ts";
import { joinFiles, writeHashed } from "./_part_files.ts";
import { UploadRefused } from "./upload_refused.ts";

export type PartCompression = "xz" | "zstd";

export interface MultipartLimits {
  maxOpen: number;
  maxParts: number;
  maxPartBytes: number;
  maxTotalBytes: number;
  /** An upload without a request for this long is removed. */
  idleMs: number;
}

/** S3's part count, the cachix client's largest part (5 GiB), an hour of idleness. */
export const MULTIPART_LIMITS: MultipartLimits = {
  maxOpen: 64,
  maxParts: 10_000,
  maxPartBytes: 5 * 1024 ** 3,
  maxTotalBytes: 16 * 1024 ** 3,
  idleMs: 60 * 60_000,
};

/** A part the client says it has, in the order it lists them. */
export interface ListedPart {
  partNumber: number;
  eTag: string;
}

/** What completing an upload gives: its parts as one file. */
export interface JoinedUpload {
  compression: PartCompression;
  size: number;
  file: ReadableStream<Uint8Array>;
}

interface Part {
  size: number;
  etag: string;
}

interface Grant {
  key: Uint8Array;
  md5: string;
}

interface Upload {
  narId: string;
  secret: Uint8Array;
  compression: PartCompression;
  dir: string;
  lastUsed: number;
  parts: Map<number, Part>;
  grants: Map<number, Grant>;
  writing: Set<number>;
  completing: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KEY = /^[0-9a-f]{64}$/;

export class MultipartUploads {
  #open = new Map<string, Upload>();

  constructor(
    private readonly tmpDir: string,
    private readonly limits: MultipartLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#open.size;
  }

  /** Opens an upload: its id and the secret every later call must show. */
  async create(compression: PartCompression): Promise<{ narId: string; uploadId: string }> {
    await this.sweep();
    if (this.#open.size >= this.limits.maxOpen) {
      throw new UploadRefused(
        "busy",
        `${this.#open.size} multipart uploads are open, the most Arca takes at once: try again later`,
      );
    }
    const narId = crypto.randomUUID();
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const dir = `${this.tmpDir}/${Deno.pid}.cachix-${narId}`;
    await Deno.mkdir(dir, { recursive: true });
    this.#open.set(narId, {
      narId,
      secret,
      compression,
      dir,
      lastUsed: this.now(),
      parts: new Map(),
      grants: new Map(),
      writing: new Set(),
      completing: false,
    });
    return { narId, uploadId: encodeHex(secret) };
  }

  /**
   * Allows part `n` to be PUT with a body whose MD5 is `contentMD5` (base64,
   * as in a Content-MD5 header); returns the key its URL carries. A new grant
   * for the same part replaces the old one; a part PUT again replaces itself.
   */
  grantPart(narId: string, uploadId: string, n: number, contentMD5: string): string {
    const u = this.#find(narId, uploadId);
    if (!Number.isSafeInteger(n) || n < 1 || n > this.limits.maxParts) {
      throw new UploadRefused(
        "bad-request",
        `partNumber ${n} is out of range: an upload has parts 1 to ${this.limits.maxParts}`,
      );
    }
    if (!isMd5(contentMD5)) {
      throw new UploadRefused(
        "bad-request",
        `contentMD5 ${JSON.stringify(contentMD5.slice(0, 64))} is not a base64 MD5 digest`,
      );
    }
    notCompleting(u);
    const key = crypto.getRandomValues(new Uint8Array(32));
    u.grants.set(n, { key, md5: contentMD5 });
    u.lastUsed = this.now();
    return encodeHex(key);
  }

  /**
   * Receives part `n` with the key of its grant and the Content-MD5 header
   * the grant named; stores it once its MD5 matches. Returns its ETag (the
   * quoted hex MD5, as S3 answers).
   */
  async putPart(
    narId: string,
    n: number,
    key: string,
    contentMD5: string | null,
    contentLength: number | undefined,
    body: ReadableStream<Uint8Array>,
  ): Promise<string> {
    const u = UUID.test(narId) ? this.#open.get(narId) : undefined;
    if (!u) throw new UploadRefused("not-found", `no open multipart upload ${narId.slice(0, 40)}`);
    const grant = u.grants.get(n);
    if (!grant || !KEY.test(key) || !timingSafeEqual(decodeHex(key), grant.key)) {
      throw new UploadRefused(
        "untrusted",
        `part ${n} of upload ${narId}: this URL's key is not valid (ask for a new part URL)`,
      );
    }
    if (contentMD5 !== grant.md5) {
      throw new UploadRefused(
        "bad-request",
        `part ${n}: the Content-MD5 header must be ${grant.md5}, the digest the part URL was made for`,
      );
    }
    notCompleting(u);
    if (u.writing.has(n)) {
      throw new UploadRefused("conflict", `part ${n} of upload ${narId} is being uploaded already`);
    }
    let others = 0;
    for (const [i, p] of u.parts) if (i !== n) others += p.size;
    const room = Math.min(this.limits.maxPartBytes, this.limits.maxTotalBytes - others);
    if (contentLength !== undefined && contentLength > room) {
      throw new UploadRefused(
        "too-large",
        `part ${n}: ${contentLength} bytes is over the ${room} bytes this part may have` +
          ` (parts of at most ${this.limits.maxPartBytes}, ${this.limits.maxTotalBytes} in all)`,
      );
    }
    u.writing.add(n);
    u.lastUsed = this.now();
    const tmp = `${u.dir}/${n}.${crypto.randomUUID()}.tmp`;
    try {
      const { size, md5 } = await writeHashed(tmp, guardBody(body, room));
      const md5b64 = encodeBase64(md5);
      if (md5b64 !== grant.md5) {
        throw new UploadRefused(
          "bad-request",
          `part ${n}: the ${size} bytes received have MD5 ${md5b64}, not the Content-MD5 ${grant.md5}`,
        );
      }
      await Deno.rename(tmp, `${u.dir}/${n}.part`);
      const etag = `"${encodeHex(md5)}"`;
      u.parts.set(n, { size, etag });
      return etag;
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    } finally {
      u.writing.delete(n);
      u.lastUsed = this.now();
    }
  }

  /**
   * Checks the client's list (parts 1..N in order, each uploaded, with its
   * ETag; `size` bytes in all) and returns the parts joined. From then on the
   * upload takes no more parts; `remove` it once the file is read. A refused
   * list leaves the upload open.
   */
  complete(
    narId: string,
    uploadId: string,
    listed: readonly ListedPart[] | null,
    size: number,
  ): JoinedUpload {
    const u = this.#find(narId, uploadId);
    notCompleting(u);
    if (u.writing.size) {
      throw new UploadRefused(
        "conflict",
        `upload ${narId}: part ${[...u.writing][0]} is still being uploaded`,
      );
    }
    if (!listed || listed.length === 0) {
      throw new UploadRefused(
        "bad-request",
        `upload ${narId}: no parts listed (did a part upload answer without an ETag?)`,
      );
    }
    const files: string[] = [];
    let total = 0;
    for (const [i, p] of listed.entries()) {
      if (p.partNumber !== i + 1) {
        throw new UploadRefused(
          "bad-request",
          `upload ${narId}: parts must be listed as 1, 2, 3, …; found part ${p.partNumber}` +
            ` in place ${i + 1}`,
        );
      }
      const have = u.parts.get(p.partNumber);
      if (!have) {
        throw new UploadRefused(
          "bad-request",
          `upload ${narId}: part ${p.partNumber} was never uploaded`,
        );
      }
      if (p.eTag !== have.etag) {
        throw new UploadRefused(
          "bad-request",
          `upload ${narId}: part ${p.partNumber} has ETag ${have.etag}, not ${
            JSON.stringify(p.eTag.slice(0, 80))
          }`,
        );
      }
      files.push(`${u.dir}/${p.partNumber}.part`);
      total += have.size;
    }
    if (total !== size) {
      throw new UploadRefused(
        "bad-request",
        `upload ${narId}: its ${listed.length} parts hold ${total} bytes, but cFileSize says ${size}`,
      );
    }
    u.completing = true;
    u.lastUsed = this.now();
    return { compression: u.compression, size: total, file: joinFiles(files) };
  }

  /** Ends an upload whose secret is `uploadId` and removes its parts. */
  async abort(narId: string, uploadId: string): Promise<void> {
    this.#find(narId, uploadId);
    await this.remove(narId);
  }

  /** Removes an upload and its parts (after `complete`'s file was read, or on abort). */
  async remove(narId: string): Promise<void> {
    const u = this.#open.get(narId);
    if (!u) return;
    this.#open.delete(narId);
    await Deno.remove(u.dir, { recursive: true }).catch(() => {});
  }

  /** Removes uploads idle for longer than the limit (none that is receiving or completing). */
  async sweep(): Promise<number> {
    const old = this.now() - this.limits.idleMs;
    const gone = [...this.#open.values()].filter((u) =>
      u.lastUsed < old && u.writing.size === 0 && !u.completing
    );
    for (const u of gone) await this.remove(u.narId);
    return gone.length;
  }

  /** Removes every upload (the server stops). */
  async close(): Promise<void> {
    for (const id of [...this.#open.keys()]) await this.remove(id);
  }

  #find(narId: string, uploadId: string): Upload {
    const u = UUID.test(narId) ? this.#open.get(narId) : undefined;
    const ok = u !== undefined && KEY.test(uploadId) &&
      timingSafeEqual(decodeHex(uploadId), u.secret);
    if (!ok) {
      throw new UploadRefused(
        "not-found",
        `no open multipart upload ${narId.slice(0, 40)} with that uploadId` +
          ` (it was completed, aborted or expired, or never existed)`,
      );
    }
    u.lastUsed = this.now();
    return u;
  }
}

function notCompleting(u: Upload): void {
  if (u.completing) {
    throw new UploadRefused("conflict", `upload ${u.narId} is being completed: it takes no parts`);
  }
}

function isMd5(b64: string): boolean {
  if (b64.length !== 24) return false;
  try {
    return decodeBase64(b64).length === 16;
  } catch {
    return false;
  }
}
