/**
 * The blob store port on an S3 bucket (AWS, Ceph RGW, MinIO, R2, Garage),
 * signed with `aws4fetch` (SigV4 over `fetch`: small, no Node shims).
 *
 * - Puts are atomic as S3 makes them: a single PUT, or above
 *   `multipartAbove` a multipart upload that becomes visible only at
 *   CompleteMultipartUpload; a crash leaves an unfinished upload, which
 *   `pendingUploads` lists and `abortUpload` removes (gc does both). Every
 *   body is sent with its SHA-256 as the signed payload hash, so the server
 *   refuses bytes that changed on the way. After completing, the object's
 *   size is checked with a HEAD (RGW 16 answers CompleteMultipartUpload with
 *   an empty ETag, so nothing is read from that answer).
 * - Reads are ranged GETs, streamed: the answer's Content-Range must be the
 *   range asked for (S3 clips a range past the end), and a body that ends
 *   early or stalls errors the stream.
 * - 5xx, 429 and network errors are retried with exponential backoff and
 *   jitter when the request can be sent again; every request has a timeout
 *   for its answer, and a read stream one for each piece.
 * - The secret key lives only in the signer: `where`, errors and logs name
 *   the bucket and prefix, never a key.
 */
import { AwsClient } from "aws4fetch";
import { createHash } from "node:crypto";
import {
  type BlobInfo,
  BlobNotFoundError,
  type BlobStore,
  checkKey,
  type ListOptions,
  type PendingUpload,
  StorageError,
  StorageFullError,
} from "../blob/blob_store.ts";
import { elements, escapeXml, field } from "./_xml.ts";

export interface S3Options {
  /** `http(s)://host[:port]` of the S3 API. */
  endpoint: string;
  region: string;
  bucket: string;
  /** Prepended to every key, e.g. `team-a/` ("" for none). */
  prefix: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** `endpoint/bucket/key` (true, what RGW and MinIO take by default) or `bucket.host/key`. */
  pathStyle: boolean;
  /** Bytes per multipart part (S3's minimum is 5 MiB); default 8 MiB. */
  partSize?: number;
  /** Larger objects go up in parts; default 16 MiB. */
  multipartAbove?: number;
  /** How long a request may wait for its answer, and a read for its next piece; default 30 s. */
  timeoutMs?: number;
  /** Attempts after the first for retryable failures; default 4. */
  retries?: number;
  /** First backoff; doubled per attempt, with jitter; default 100 ms. */
  backoffMs?: number;
  /** Keys per DeleteObjects request (S3's maximum is 1000, the default). */
  deleteBatch?: number;
  /** Keys per ListObjectsV2 page when `list` is given none (S3's maximum is 1000, the default). */
  pageSize?: number;
}

/** Counts of requests sent, by S3 operation (the benchmark reports them). */
export type RequestCounts = Map<string, number>;

export class S3BlobStore implements BlobStore {
  readonly kind = "s3" as const;
  readonly where: string;
  readonly counts: RequestCounts = new Map();
  #client: AwsClient;
  #base: string;
  #o: Required<Omit<S3Options, "sessionToken" | "accessKeyId" | "secretAccessKey">>;

  constructor(o: S3Options) {
    const url = new URL(o.endpoint);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`S3 endpoint must be http(s)://…, got ${o.endpoint}`);
    }
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(o.bucket)) {
      throw new TypeError(`Invalid S3 bucket name: ${JSON.stringify(o.bucket)}`);
    }
    if (o.prefix !== "" && !/^([A-Za-z0-9._-]+\/)+$/.test(o.prefix)) {
      throw new TypeError(`S3 prefix must be "" or end with "/": ${JSON.stringify(o.prefix)}`);
    }
    this.#o = {
      endpoint: o.endpoint,
      region: o.region,
      bucket: o.bucket,
      prefix: o.prefix,
      pathStyle: o.pathStyle,
      partSize: o.partSize ?? 8 << 20,
      multipartAbove: o.multipartAbove ?? 16 << 20,
      timeoutMs: o.timeoutMs ?? 30_000,
      retries: o.retries ?? 4,
      backoffMs: o.backoffMs ?? 100,
      deleteBatch: Math.min(1000, o.deleteBatch ?? 1000),
      pageSize: Math.min(1000, o.pageSize ?? 1000),
    };
    if (this.#o.partSize < 5 << 20) throw new RangeError("S3 part size must be at least 5 MiB");
    this.#client = new AwsClient({
      accessKeyId: o.accessKeyId,
      secretAccessKey: o.secretAccessKey,
      sessionToken: o.sessionToken,
      service: "s3",
      region: o.region,
      retries: 0, // retried here, where it is known whether a body can be sent again
    });
    const origin = url.origin;
    this.#base = o.pathStyle
      ? `${origin}${url.pathname.replace(/\/$/, "")}/${o.bucket}`
      : `${url.protocol}//${o.bucket}.${url.host}${url.pathname.replace(/\/$/, "")}`;
    this.where = `s3://${o.bucket}/${o.prefix}`;
  }

  /** The URL of `key` (path-style or virtual-host), for tests and the benchmark. */
  urlOf(key: string): string {
    return `${this.#base}/${encodeKey(this.#o.prefix + checkKey(key))}`;
  }

  /** Creates the bucket if it does not exist (tests, `serve` at start when asked). */
  async ensureBucket(): Promise<void> {
    const res = await this.#send("CreateBucket", "PUT", `${this.#base}/`, {
      ok: [200, 409],
    });
    await res.body?.cancel();
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const res = await this.#send("PutObject", "PUT", this.urlOf(key), {
      body: data,
      headers: { "content-type": "application/octet-stream" },
    });
    await res.body?.cancel();
  }

  async putStream(key: string, data: ReadableStream<Uint8Array>): Promise<void> {
    // One part or less goes up as a single PUT; more as a multipart upload.
    const parts = partsOf(data, this.#o.partSize);
    const first = await parts.next();
    if (first.done) return await this.put(key, new Uint8Array(0));
    const second = await parts.next();
    if (second.done) return await this.put(key, first.value);
    await this.#multipart(
      key,
      (async function* () {
        yield first.value;
        yield second.value;
        yield* parts;
      })(),
    );
  }

  async putFile(key: string, path: string): Promise<void> {
    const size = (await Deno.stat(path)).size;
    if (size <= this.#o.multipartAbove) {
      await this.put(key, await Deno.readFile(path));
    } else {
      const f = await Deno.open(path);
      try {
        await this.#multipart(key, partsOf(f.readable, this.#o.partSize), size);
      } finally {
        try {
          f.close();
        } catch { /* closed by its stream */ }
      }
    }
    await Deno.remove(path);
  }

  async #multipart(key: string, parts: AsyncIterable<Uint8Array>, size?: number): Promise<void> {
    const url = this.urlOf(key);
    const created = await this.#send("CreateMultipartUpload", "POST", `${url}?uploads`, {
      headers: { "content-type": "application/octet-stream" },
    });
    const uploadId = field(await created.text(), "UploadId");
    if (!uploadId) throw new StorageError(`${this.where}: no UploadId for ${key}`);
    const q = `uploadId=${encodeURIComponent(uploadId)}`;
    const etags: string[] = [];
    let total = 0;
    try {
      let n = 0;
      for await (const part of parts) {
        n++;
        const res = await this.#send("UploadPart", "PUT", `${url}?partNumber=${n}&${q}`, {
          body: part,
        });
        await res.body?.cancel();
        const etag = res.headers.get("etag");
        if (!etag) throw new StorageError(`${this.where}: part ${n} of ${key} got no ETag`);
        etags.push(etag);
        total += part.length;
      }
      const xml = `<CompleteMultipartUpload>${
        etags.map((e, i) =>
          `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(e)}</ETag></Part>`
        ).join("")
      }</CompleteMultipartUpload>`;
      const done = await this.#send("CompleteMultipartUpload", "POST", `${url}?${q}`, {
        body: new TextEncoder().encode(xml),
        headers: { "content-type": "application/xml" },
      });
      // S3 may answer 200 and put the failure in the body.
      const text = await done.text();
      if (text.includes("<Error>")) throw this.#error("CompleteMultipartUpload", key, 200, text);
    } catch (e) {
      await this.#send("AbortMultipartUpload", "DELETE", `${url}?${q}`, { ok: [204, 404] })
        .then((r) => r.body?.cancel()).catch(() => {});
      throw e;
    }
    const info = await this.head(key);
    const want = size ?? total;
    if (!info || info.size !== want) {
      throw new StorageError(
        `${this.where}: ${key} holds ${info?.size ?? "nothing"} after its upload of ${want} bytes`,
      );
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const res = await this.#send("GetObject", "GET", this.urlOf(key), { ok: [200, 404] });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    return new Uint8Array(await res.arrayBuffer());
  }

  async read(key: string, offset: number, length: number): Promise<ReadableStream<Uint8Array>> {
    if (length === 0) {
      if (!(await this.head(key))) throw new BlobNotFoundError(this.where, key);
      return new ReadableStream({ start: (c) => c.close() });
    }
    const res = await this.#send("GetObject", "GET", this.urlOf(key), {
      headers: { range: `bytes=${offset}-${offset + length - 1}` },
      ok: [206, 200],
    });
    const range = res.headers.get("content-range");
    const m = range?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
    const whole = res.status === 200 && offset === 0 &&
      Number(res.headers.get("content-length")) === length;
    if (!whole && (!m || Number(m[1]) !== offset || Number(m[2]) !== offset + length - 1)) {
      await res.body?.cancel();
      throw new RangeError(
        `${this.where}: ${key} holds fewer than ${offset + length} bytes (${range ?? res.status})`,
      );
    }
    return guard(res.body!, length, this.#o.timeoutMs, `${this.where}: ${key}`);
  }

  async readInto(key: string, offset: number, buf: Uint8Array): Promise<Uint8Array> {
    const stream = await this.read(key, offset, buf.length);
    let o = 0;
    for await (const piece of stream) {
      buf.set(piece, o);
      o += piece.length;
    }
    return buf;
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const res = await this.#send("HeadObject", "HEAD", this.urlOf(key), { ok: [200, 404] });
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    return {
      key,
      size: Number(res.headers.get("content-length")),
      mtime: Date.parse(res.headers.get("last-modified") ?? "") || 0,
    };
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<BlobInfo> {
    const p = this.#o.prefix + prefix;
    const size = Math.min(1000, Math.max(1, opts.pageSize ?? this.#o.pageSize));
    let token: string | undefined;
    for (let page = 0;; page++) {
      const q = new URLSearchParams({ "list-type": "2", prefix: p, "max-keys": String(size) });
      // The keys below a `/` come back rolled up as CommonPrefixes, ignored here.
      if (opts.shallow) q.set("delimiter", "/");
      if (token) q.set("continuation-token", token);
      const res = await this.#send("ListObjectsV2", "GET", `${this.#base}/?${q}`);
      const xml = await res.text();
      for (const c of elements(xml, "Contents")) {
        const key = field(c, "Key")!;
        yield {
          key: key.slice(this.#o.prefix.length),
          size: Number(field(c, "Size")),
          mtime: Date.parse(field(c, "LastModified") ?? "") || 0,
        };
      }
      if (field(xml, "IsTruncated") !== "true") return;
      token = field(xml, "NextContinuationToken");
      if (!token) throw new StorageError(`${this.where}: a truncated listing without a token`);
    }
  }

  async deleteMany(keys: string[]): Promise<void> {
    const per = this.#o.deleteBatch;
    for (let i = 0; i < keys.length; i += per) {
      const batch = keys.slice(i, i + per);
      const xml = `<Delete><Quiet>true</Quiet>${
        batch.map((k) => `<Object><Key>${escapeXml(this.#o.prefix + checkKey(k))}</Key></Object>`)
          .join("")
      }</Delete>`;
      const body = new TextEncoder().encode(xml);
      const res = await this.#send("DeleteObjects", "POST", `${this.#base}/?delete`, {
        body,
        headers: {
          "content-type": "application/xml",
          "content-md5": createHash("md5").update(body).digest("base64"),
        },
      });
      const errors = elements(await res.text(), "Error");
      if (errors.length) {
        throw new StorageError(
          `${this.where}: ${errors.length} of ${batch.length} deletes failed, first: ${
            field(errors[0], "Key")
          } ${field(errors[0], "Code")}`,
        );
      }
    }
  }

  async *pendingUploads(prefix: string): AsyncIterable<PendingUpload> {
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const q = new URLSearchParams({ prefix: this.#o.prefix + prefix });
      if (keyMarker) q.set("key-marker", keyMarker);
      if (idMarker) q.set("upload-id-marker", idMarker);
      const res = await this.#send("ListMultipartUploads", "GET", `${this.#base}/?uploads&${q}`);
      const xml = await res.text();
      for (const u of elements(xml, "Upload")) {
        yield {
          key: field(u, "Key")!.slice(this.#o.prefix.length),
          id: field(u, "UploadId")!,
          started: Date.parse(field(u, "Initiated") ?? "") || 0,
        };
      }
      if (field(xml, "IsTruncated") !== "true") return;
      keyMarker = field(xml, "NextKeyMarker");
      idMarker = field(xml, "NextUploadIdMarker");
      if (!keyMarker) return;
    }
  }

  async abortUpload(u: PendingUpload): Promise<void> {
    const res = await this.#send(
      "AbortMultipartUpload",
      "DELETE",
      `${this.urlOf(u.key)}?uploadId=${encodeURIComponent(u.id)}`,
      { ok: [204, 200, 404] },
    );
    await res.body?.cancel();
  }

  /**
   * Sends one request, retrying 5xx, 429 and network failures with backoff
   * while the body can be sent again (bytes can; every body here is bytes).
   */
  async #send(
    op: string,
    method: string,
    url: string,
    o: { body?: Uint8Array; headers?: Record<string, string>; ok?: number[] } = {},
  ): Promise<Response> {
    const ok = o.ok ?? [200];
    const headers: Record<string, string> = { ...o.headers };
    if (o.body) {
      headers["x-amz-content-sha256"] = createHash("sha256").update(o.body).digest("hex");
    }
    let last: unknown;
    for (let attempt = 0; attempt <= this.#o.retries; attempt++) {
      if (attempt > 0) {
        const ms = this.#o.backoffMs * 2 ** (attempt - 1);
        await new Promise((r) => setTimeout(r, ms / 2 + Math.random() * ms / 2));
      }
      this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), this.#o.timeoutMs);
      let res: Response;
      try {
        const req = await this.#client.sign(url, {
          method,
          headers,
          body: o.body as BodyInit | undefined,
        });
        res = await fetch(req, { signal: ctl.signal });
      } catch (e) {
        last = new StorageError(
          `${this.where}: ${op} failed: ${
            ctl.signal.aborted ? `no answer in ${this.#o.timeoutMs} ms` : (e as Error).message
          }`,
        );
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (ok.includes(res.status)) return res;
      const text = await res.text().catch(() => "");
      last = this.#error(op, url, res.status, text);
      if (res.status < 500 && res.status !== 429) break;
    }
    throw last;
  }

  #error(op: string, url: string, status: number, body: string): Error {
    const code = field(body, "Code") ?? "";
    const key = url.startsWith(this.#base) ? decodeURIComponent(url.slice(this.#base.length)) : "";
    const what = `${this.where}: ${op} ${key.replace(/\?.*/, "")}: ${status} ${code}`.trim();
    if (code === "NoSuchKey" || (status === 404 && op === "GetObject")) {
      return new BlobNotFoundError(this.where, key.replace(/\?.*/, "").replace(/^\//, ""));
    }
    if (status === 416 || code === "InvalidRange") return new RangeError(what);
    if (code === "QuotaExceeded" || code === "EntityTooLarge" || status === 507) {
      return new StorageFullError(what);
    }
    return new StorageError(what);
  }
}

/** Key segments percent-encoded as S3 signs them; `/` kept. */
function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

/** The stream's bytes cut into pieces of exactly `size` (the last one shorter). */
async function* partsOf(
  stream: ReadableStream<Uint8Array>,
  size: number,
): AsyncGenerator<Uint8Array> {
  let buf = new Uint8Array(size);
  let used = 0;
  for await (const piece of stream) {
    let o = 0;
    while (o < piece.length) {
      const n = Math.min(size - used, piece.length - o);
      buf.set(piece.subarray(o, o + n), used);
      used += n;
      o += n;
      if (used === size) {
        yield buf;
        buf = new Uint8Array(size);
        used = 0;
      }
    }
  }
  if (used > 0) yield buf.subarray(0, used);
}

/**
 * Passes a response body through, failing it when it ends before `length`
 * bytes, goes on past them, or stalls for `timeoutMs` between pieces.
 */
function guard(
  body: ReadableStream<Uint8Array>,
  length: number,
  timeoutMs: number,
  what: string,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let got = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new StorageError(`${what}: no data for ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        const r = await Promise.race([reader.read(), stalled]);
        if (r.done) {
          if (got < length) throw new StorageError(`${what}: ended after ${got} of ${length}`);
          ctl.close();
          return;
        }
        got += r.value.length;
        if (got > length) throw new StorageError(`${what}: more than ${length} bytes`);
        ctl.enqueue(r.value);
      } catch (e) {
        reader.cancel().catch(() => {});
        throw e instanceof StorageError ? e : new StorageError(`${what}: ${(e as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
