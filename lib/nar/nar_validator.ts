/**
 * A pass-through check that a byte stream is one valid NAR (for uploads):
 * chunks flow on unchanged once the parser has accepted them, and the stream
 * errors with `NarError` as soon as they cannot be a NAR, or at the end when
 * the NAR is incomplete.
 */
import { type NarParseOptions, NarParser } from "./_parser.ts";

/** A TransformStream that validates while passing bytes through; `size` counts them. */
export class NarValidator extends TransformStream<Uint8Array, Uint8Array> {
  readonly #parser: NarParser;

  constructor(options: NarParseOptions = {}) {
    const parser = new NarParser(() => {}, options);
    super({
      transform(chunk, controller) {
        parser.push(chunk);
        controller.enqueue(chunk);
      },
      flush() {
        parser.end();
      },
    });
    this.#parser = parser;
  }

  /** Bytes seen so far; the NAR size once the stream has ended. */
  get size(): number {
    return this.#parser.received;
  }
}

/**
 * @example
 * ```ts
 * import { encodeNar } from "./encode_nar.ts";
 * const v = narValidator();
 * await encodeNar({ type: "symlink", target: "x" }).pipeThrough(v).pipeTo(new WritableStream());
 * if (v.size !== 120) throw new Error(`size ${v.size}`);
 * ```
 */
export function narValidator(options: NarParseOptions = {}): NarValidator {
  return new NarValidator(options);
}
