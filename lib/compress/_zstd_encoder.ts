/**
 * zstd frames from one long-lived compression context per level, written
 * straight into the caller's buffer. `zstdCompressSync` builds a stream
 * object, a context and several output buffers per call; per 64 KiB chunk
 * that cost ~10% of the compression time and made most of a compression
 * worker's garbage (which its isolate frees late, so it showed up in RSS).
 *
 * The context is the native handle under `node:zlib`'s ZstdCompress, driven
 * the way Node's own sync path drives it (`writeSync` with ZSTD_e_end, then
 * the [availOut, availIn] it leaves in the write state). Where a runtime
 * lacks that handle, `zstdCompressSync` is used instead; frames from either
 * are valid and decode the same, they differ only in header fields.
 */
import zlib, { constants, zstdCompressSync } from "node:zlib";
import { CompressionError } from "./compression.ts";

/** The native handle under a node:zlib zstd stream (`_zstd_decoder.ts` drives one too). */
export interface ZstdHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
}

interface Encoder {
  handle: ZstdHandle;
  /** [availOut, availIn] after each write. */
  state: Uint32Array;
}

/** Per level; null when the runtime has no usable handle. */
const encoders = new Map<number, Encoder | null>();

function paramsFor(level: number) {
  // The 4-byte content checksum lets any decoder detect a damaged frame.
  return { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_checksumFlag]: 1 };
}

function encoderFor(level: number): Encoder | null {
  let e = encoders.get(level);
  if (e !== undefined) return e;
  const z = zlib.createZstdCompress({ params: paramsFor(level) }) as unknown as {
    _handle?: Partial<ZstdHandle>;
    _writeState?: unknown;
  };
  e = typeof z._handle?.writeSync === "function" && z._writeState instanceof Uint32Array
    ? { handle: z._handle as ZstdHandle, state: z._writeState }
    : null;
  encoders.set(level, e);
  return e;
}

/** Room that always holds the frame of `n` input bytes (zstd's ZSTD_COMPRESSBOUND, plus header). */
export function zstdBound(n: number): number {
  return n + (n >>> 8) + (n < 131072 ? (131072 - n) >>> 11 : 0) + 32;
}

/** Compresses `input` as one frame into `out` from `at`; returns the frame's length. */
export function zstdFrameInto(
  input: Uint8Array,
  level: number,
  out: Uint8Array,
  at: number,
): number {
  const e = encoderFor(level);
  if (!e) {
    const frame = zstdCompressSync(input, { params: paramsFor(level) });
    if (frame.length > out.length - at) throw new CompressionError("zstd frame exceeds its bound");
    out.set(frame, at);
    return frame.length;
  }
  let inOff = 0;
  let inLen = input.length;
  let pos = at;
  for (;;) {
    const room = out.length - pos;
    if (room === 0) throw new CompressionError("zstd frame exceeds its bound");
    e.handle.writeSync(constants.ZSTD_e_end, input, inOff, inLen, out, pos, room);
    const availOut = e.state[0], availIn = e.state[1];
    pos += room - availOut;
    inOff += inLen - availIn;
    inLen = availIn;
    // Output left over means the frame is complete (ZSTD_e_end stops early only when full).
    if (availIn === 0 && availOut > 0) return pos - at;
  }
}
