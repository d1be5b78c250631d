/**
 * Streaming zstd decompression of a body of one or more frames.
 *
 * Deno 2.9.6's streaming `createZstdDecompress` throws decoder errors (e.g. a checksum
 * mismatch) as uncaught exceptions instead of 'error' events, which would crash the process on
 * a corrupt body. So each frame is collected (frames are found with `ZstdFrames`) and decoded
 * with the one-shot `zstdDecompressSync`, whose errors are catchable. Arca's own frames are
 * one chunk (<= 256 KiB of content). Frames larger than MAX_FRAME bytes compressed (foreign
 * whole-NAR frames) fall back to the streaming decoder to keep memory bounded, with that
 * runtime bug's risk.
 */
import { concatBytes } from "../encoding/mod.ts";
import { createZstdDecompress, zstdDecompressSync } from "node:zlib";
import { CompressionError } from "./compression.ts";
import { ZstdFrames } from "./_zstd_frames.ts";

const MAX_FRAME = 16 * 1024 * 1024;

/** The subset of a node:zlib stream used for the large-frame fallback. */
interface ZlibLike {
  write(b: Uint8Array, cb: (err?: Error | null) => void): boolean;
  end(): void;
  on(ev: "data", f: (b: Uint8Array) => void): unknown;
  on(ev: "error", f: (e: Error) => void): unknown;
  on(ev: "end", f: () => void): unknown;
}

export function zstdStream(): TransformStream<Uint8Array, Uint8Array> {
  const frames = new ZstdFrames();
  let pending: Uint8Array[] = [];
  let pendingLen = 0;
  let offset = 0; // compressed offset of the current frame, for messages
  let big: { z: ZlibLike; failure?: CompressionError; done: Promise<void> } | undefined;

  const decodeFrame = (parts: Uint8Array[], c: TransformStreamDefaultController<Uint8Array>) => {
    const frame = concatBytes(parts);
    try {
      const out = zstdDecompressSync(frame);
      if (out.byteLength > 0) c.enqueue(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    } catch (e) {
      throw new CompressionError(
        `Cannot decompress zstd: ${(e as Error).message} (frame at byte ${offset})`,
      );
    }
    offset += frame.length;
  };

  const startBig = (c: TransformStreamDefaultController<Uint8Array>) => {
    const z = createZstdDecompress() as unknown as ZlibLike;
    const b: NonNullable<typeof big> = { z, done: Promise.resolve() };
    b.done = new Promise<void>((resolve) => {
      z.on("data", (d) => c.enqueue(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
      z.on("error", (e) => {
        b.failure ??= new CompressionError(`Cannot decompress zstd: ${e.message}`);
        resolve();
      });
      z.on("end", () => resolve());
    });
    return b;
  };

  const write = (b: NonNullable<typeof big>, data: Uint8Array) =>
    new Promise<void>((resolve, reject) =>
      b.z.write(data, (err) => {
        if (err) b.failure ??= new CompressionError(`Cannot decompress zstd: ${err.message}`);
        b.failure ? reject(b.failure) : resolve();
      })
    );

  return new TransformStream({
    async transform(piece, c) {
      let start = 0;
      for (const end of frames.feed(piece)) {
        const part = piece.subarray(start, end);
        if (big) {
          await write(big, part);
          big.z.end();
          await big.done;
          if (big.failure) throw big.failure;
          offset += pendingLen + part.length;
          big = undefined;
        } else {
          pending.push(part);
          decodeFrame(pending, c);
        }
        pending = [];
        pendingLen = 0;
        start = end;
      }
      if (start === piece.length) return;
      const rest = piece.subarray(start);
      if (big) {
        pendingLen += rest.length;
        return await write(big, rest);
      }
      pending.push(rest.slice()); // the writer may reuse its buffer
      pendingLen += rest.length;
      if (pendingLen > MAX_FRAME) {
        big = startBig(c);
        const buffered = pending;
        pending = [];
        for (const p of buffered) await write(big, p);
      }
    },
    flush() {
      if (!frames.atFrameEnd) {
        throw new CompressionError("Cannot decompress zstd: truncated (input ends inside a frame)");
      }
    },
  });
}
