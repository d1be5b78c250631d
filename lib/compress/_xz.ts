/**
 * xz through liblzma compiled to WASM (`node-liblzma`'s WASM build: no native addon, so
 * `deno compile` can embed it). Its high-level helpers stop after the first .xz stream, so this
 * drives `lzma_code` directly, decoding with LZMA_CONCATENATED to read back-to-back streams.
 */
import { concatBytes } from "../encoding/mod.ts";
// @ts-types="./_liblzma_wasm.d.ts"
import { createLzma, liblzmaWasm } from "./_liblzma_wasm.js";
import { CompressionError } from "./compression.ts";

// deno-lint-ignore no-explicit-any
let module: any;

/**
 * liblzma, instantiated on first use: importing lib/compress costs nothing
 * (it cost ~60 ms and ~19 MiB per isolate when loaded at import), and a
 * process that never uses xz never loads it. The wasm is compiled with the
 * module graph (`import source`); instantiating it synchronously lets the
 * Emscripten glue finish at once, so every call below stays synchronous.
 */
// deno-lint-ignore no-explicit-any
function lzma(): any {
  if (module) return module;
  // deno-lint-ignore no-explicit-any
  const m: any = {
    instantiateWasm(imports: WebAssembly.Imports, done: (i: WebAssembly.Instance) => void) {
      const instance = new WebAssembly.Instance(liblzmaWasm, imports);
      done(instance);
      return instance.exports;
    },
  };
  createLzma(m).catch(() => {});
  if (typeof m._lzma_code !== "function") {
    throw new CompressionError("Cannot load xz: liblzma did not start");
  }
  return module = m;
}

const LZMA_OK = 0;
const LZMA_STREAM_END = 1;
const LZMA_RUN = 0;
const LZMA_FINISH = 3;
const LZMA_CHECK_CRC64 = 4;
const LZMA_CONCATENATED = 0x08;
/** lzma_stream in wasm32: next_in@0 avail_in@4 next_out@16 avail_out@20, 96 bytes. */
const STREAM_SIZE = 96;
const DECODER_MEMLIMIT = 256n * 1024n * 1024n;
const OUT_SIZE = 256 * 1024;

const MESSAGES: Record<number, string> = {
  5: "out of memory",
  6: "memory limit reached",
  7: "not xz data (bad magic)",
  8: "unsupported options",
  9: "corrupt data",
  10: "truncated data",
};

function fail(code: number, where: string): never {
  throw new CompressionError(`Cannot ${where} xz: ${MESSAGES[code] ?? `liblzma error ${code}`}`);
}

/** One lzma_stream plus in/out buffers in WASM memory; `free()` releases all of it. */
class Stream {
  readonly ptr: number = lzma()._malloc(STREAM_SIZE);
  readonly out: number = lzma()._malloc(OUT_SIZE);
  #in = 0;
  #inCap = 0;
  constructor() {
    lzma().HEAPU8.fill(0, this.ptr, this.ptr + STREAM_SIZE);
  }
  /** Copies `data` into WASM memory as the next input. */
  input(data: Uint8Array): void {
    if (data.length > this.#inCap) {
      if (this.#in) lzma()._free(this.#in);
      this.#inCap = Math.max(data.length, 64 * 1024);
      this.#in = lzma()._malloc(this.#inCap);
    }
    lzma().HEAPU8.set(data, this.#in);
    lzma().setValue(this.ptr, this.#in, "i32");
    lzma().setValue(this.ptr + 4, data.length, "i32");
  }
  /** Runs lzma_code until input is used up (or the end), passing each output piece on. */
  run(action: number, emit: (b: Uint8Array) => void, where: string): boolean {
    for (;;) {
      lzma().setValue(this.ptr + 16, this.out, "i32");
      lzma().setValue(this.ptr + 20, OUT_SIZE, "i32");
      const ret = lzma()._lzma_code(this.ptr, action);
      const produced = OUT_SIZE - lzma().getValue(this.ptr + 20, "i32");
      if (produced > 0) emit(lzma().HEAPU8.slice(this.out, this.out + produced));
      if (ret === LZMA_STREAM_END) return true;
      if (ret !== LZMA_OK) fail(ret, where);
      if (
        lzma().getValue(this.ptr + 4, "i32") === 0 && produced < OUT_SIZE && action === LZMA_RUN
      ) {
        return false;
      }
    }
  }
  free(): void {
    lzma()._lzma_end(this.ptr);
    lzma()._free(this.ptr);
    lzma()._free(this.out);
    if (this.#in) lzma()._free(this.#in);
  }
}

// One encoder kept across calls: re-initialising the same lzma_stream lets liblzma reuse its
// match-finder memory instead of allocating it per chunk.
let encoder: Stream | undefined;

/** Compresses `data` into one complete .xz stream (CRC64 check) at `preset` (0-9). */
export function xzCompress(data: Uint8Array, preset: number): Uint8Array {
  encoder ??= new Stream();
  const ret = lzma()._lzma_easy_encoder(encoder.ptr, preset, LZMA_CHECK_CRC64);
  if (ret !== LZMA_OK) fail(ret, `set up preset ${preset} to`);
  const parts: Uint8Array[] = [];
  encoder.input(data);
  encoder.run(LZMA_FINISH, (b) => parts.push(b), "compress");
  return concatBytes(parts);
}

/** Incremental decoder of one or more concatenated .xz streams. */
export class XzDecoder {
  #s: Stream | undefined = new Stream();
  constructor() {
    const ret = lzma()._lzma_stream_decoder(this.#s!.ptr, DECODER_MEMLIMIT, LZMA_CONCATENATED);
    if (ret !== LZMA_OK) (this.close(), fail(ret, "set up decoder to"));
  }
  /** Decodes the next piece of input, passing output on as it is produced. */
  push(data: Uint8Array, emit: (b: Uint8Array) => void): void {
    const s = this.#s;
    if (!s) throw new CompressionError("Cannot decompress xz: decoder used after close");
    s.input(data);
    s.run(LZMA_RUN, emit, "decompress");
  }
  /** Checks that the input ended at the end of a stream (else: truncated). */
  finish(emit: (b: Uint8Array) => void): void {
    const s = this.#s;
    if (!s) throw new CompressionError("Cannot decompress xz: decoder used after close");
    s.input(new Uint8Array(0));
    if (!s.run(LZMA_FINISH, emit, "decompress")) fail(10, "decompress");
  }
  close(): void {
    this.#s?.free();
    this.#s = undefined;
  }
}
