/**
 * zstd chunk frames decoded by one long-lived decompression context,
 * straight into a buffer of the size the caller knows (a manifest gives
 * every chunk's plain length). `zstdDecompressSync` builds a stream object,
 * a context and 16 KiB output pieces (then joined) per call: for a 64 KiB
 * chunk that was ~3.5x the decode itself, the largest cost of a peer fetch.
 *
 * The context is the native handle under `node:zlib`'s ZstdDecompress,
 * driven as `_zstd_encoder.ts` drives its compressor: `writeSync`, then the
 * [availOut, availIn] it leaves in the write state. Decoder errors (a bad
 * checksum, a corrupt block) throw from `writeSync`; the context is reset
 * before every chunk, so nothing of a bad or short one carries into the
 * next. Where a runtime lacks the handle, `zstdDecodeInto` says so and the
 * caller uses the one-shot path.
 */
import zlib from "node:zlib";
import { CompressionError } from "./compression.ts";
import type { ZstdHandle } from "./_zstd_encoder.ts";

interface ZstdDecodeHandle extends ZstdHandle {
  reset(): void;
}

let decoder: { handle: ZstdDecodeHandle; state: Uint32Array } | null | undefined;

function decoderOf(): typeof decoder {
  if (decoder !== undefined) return decoder;
  const z = zlib.createZstdDecompress() as unknown as {
    _handle?: Partial<ZstdDecodeHandle>;
    _writeState?: unknown;
  };
  const h = z._handle;
  decoder = typeof h?.writeSync === "function" && typeof h.reset === "function" &&
      z._writeState instanceof Uint32Array
    ? { handle: h as ZstdDecodeHandle, state: z._writeState }
    : null;
  return decoder;
}

/**
 * Decodes the whole frames in `data` (checked complete by the caller) into
 * all of `out`; throws `CompressionError` unless they hold exactly
 * `out.length` bytes. False when the runtime has no usable context.
 */
export function zstdDecodeInto(data: Uint8Array, out: Uint8Array): boolean {
  const d = decoderOf();
  if (!d) return false;
  const { handle, state } = d;
  handle.reset();
  let inOff = 0, inLen = data.length, outOff = 0;
  try {
    for (;;) {
      const room = out.length - outOff;
      handle.writeSync(0, data, inOff, inLen, out, outOff, room);
      const produced = room - state[0], consumed = inLen - state[1];
      outOff += produced;
      inOff += consumed;
      inLen = state[1];
      if (inLen === 0) break;
      // Input left and no progress: the frames hold more than `out.length` bytes.
      if (produced === 0 && consumed === 0) {
        throw new CompressionError(`Cannot decompress zstd chunk: more than ${out.length} bytes`);
      }
    }
  } catch (e) {
    handle.reset();
    if (e instanceof CompressionError) throw e;
    throw new CompressionError(`Cannot decompress zstd chunk: ${(e as Error).message}`);
  }
  if (outOff !== out.length) {
    handle.reset();
    throw new CompressionError(`Cannot decompress zstd chunk: ${outOff} of ${out.length} bytes`);
  }
  return true;
}
