/**
 * Streaming decompression of a whole NAR body (possibly many concatenated frames/streams),
 * with bounded memory: output is passed on as it is produced.
 */
import { createBrotliDecompress, createGunzip } from "node:zlib";
import { CompressionError, type Decompression } from "./compression.ts";
import { XzDecoder } from "./_xz.ts";
import { Bzip2Decoder } from "./_bzip2.ts";
import { zstdStream } from "./_zstd_stream.ts";

/** A `TransformStream` that decompresses `method`; corrupt or truncated input errors it. */
export function decompressStream(method: Decompression): TransformStream<Uint8Array, Uint8Array> {
  switch (method) {
    case "none":
      return new TransformStream();
    case "xz":
      return xzStream();
    case "zstd":
      return zstdStream();
    case "gzip":
      return zlibStream(method, createGunzip);
    case "br":
      return zlibStream(method, createBrotliDecompress);
    case "bzip2":
      return bzip2Stream();
    default:
      throw new CompressionError(`Unknown compression method: ${method}`);
  }
}

function xzStream(): TransformStream<Uint8Array, Uint8Array> {
  const d = new XzDecoder();
  const wrap = (e: unknown) =>
    e instanceof CompressionError
      ? e
      : new CompressionError(`Cannot decompress xz: ${(e as Error).message}`);
  return new TransformStream({
    transform(piece, c) {
      try {
        d.push(piece, (b) => c.enqueue(b));
      } catch (e) {
        d.close();
        throw wrap(e);
      }
    },
    flush(c) {
      try {
        d.finish((b) => c.enqueue(b));
      } catch (e) {
        throw wrap(e);
      } finally {
        d.close();
      }
    },
    cancel() {
      d.close();
    },
  });
}

function bzip2Stream(): TransformStream<Uint8Array, Uint8Array> {
  const d = new Bzip2Decoder();
  return new TransformStream({
    transform: (piece, c) => d.push(piece, (b) => c.enqueue(b)),
    flush: (c) => d.finish((b) => c.enqueue(b)),
  });
}

/** The subset of a node:zlib stream this adapter uses. */
interface ZlibLike {
  write(b: Uint8Array, cb: (err?: Error | null) => void): boolean;
  end(): void;
  destroy(): void;
  on(ev: "data", f: (b: Uint8Array) => void): unknown;
  on(ev: "error", f: (e: Error) => void): unknown;
  on(ev: "end", f: () => void): unknown;
}

/** Adapts a node:zlib decompressor (gzip, br) to a web TransformStream. */
function zlibStream(method: string, make: () => unknown): TransformStream<Uint8Array, Uint8Array> {
  const z = make() as ZlibLike;
  let failure: CompressionError | undefined;
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((f) => f());
  return new TransformStream({
    start(c) {
      z.on("data", (b) => c.enqueue(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
      z.on("error", (e) => {
        failure ??= new CompressionError(`Cannot decompress ${method}: ${e.message}`);
        wake();
      });
      z.on("end", () => (ended = true, wake()));
    },
    transform(piece) {
      if (failure) throw failure;
      return new Promise<void>((resolve, reject) => {
        waiters.push(() => failure ? reject(failure) : resolve());
        z.write(piece, (err) => {
          if (err) failure ??= new CompressionError(`Cannot decompress ${method}: ${err.message}`);
          wake();
        });
      });
    },
    flush() {
      if (failure) throw failure;
      return new Promise<void>((resolve, reject) => {
        const settle = () => failure ? reject(failure) : ended ? resolve() : waiters.push(settle);
        waiters.push(settle);
        z.end();
      });
    },
    cancel() {
      z.destroy();
    },
  });
}
