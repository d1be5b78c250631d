/**
 * Streaming, validating NAR parser: bytes in, `NarEvent`s out.
 *
 * ```
 * Uint8Array chunks (any split) ──► parseNar() ──► directory / regular / contents… /
 *                                                  regular-end / symlink / directory-end
 * ```
 * Rejects with `NarError` (`Invalid NAR at byte N: …`) anything `nix-store
 * --dump` would not write: bad magic or tokens, unsorted or duplicate entries,
 * bad names, nonzero padding, over-long strings, truncation, trailing bytes.
 * Names and symlink targets must be UTF-8 (events carry strings).
 */
import type { NarEvent } from "./nar_event.ts";
import { type NarParseOptions, NarParser } from "./_parser.ts";

export type { NarParseOptions };

/**
 * @example
 * ```ts
 * import { encodeNar } from "./encode_nar.ts";
 * const events = encodeNar({ type: "symlink", target: "x" }).pipeThrough(parseNar());
 * for await (const e of events) if (e.type !== "symlink") throw new Error(e.type);
 * ```
 */
export function parseNar(options: NarParseOptions = {}): TransformStream<Uint8Array, NarEvent> {
  let parser: NarParser | undefined;
  return new TransformStream<Uint8Array, NarEvent>({
    start(controller) {
      parser = new NarParser((e) => controller.enqueue(e), options);
    },
    transform(chunk) {
      parser!.push(chunk);
    },
    flush() {
      parser!.end();
    },
  });
}
