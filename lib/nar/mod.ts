/**
 * NAR (`nix-archive-1`): streaming encoder, validating parser, event
 * re-encoder and pass-through validator, all as web streams that never hold a
 * whole file in memory.
 *
 * ```
 * NarNode tree ─encodeNar─► bytes ─parseNar─► NarEvent ─encodeNarEvents─► bytes
 *                           bytes ─narValidator─► same bytes (or NarError)
 * ```
 * @module
 */
export type { NarNode } from "./nar_node.ts";
export type { NarEvent } from "./nar_event.ts";
export { NarError } from "./nar_error.ts";
export { encodeNar } from "./encode_nar.ts";
export { type NarParseOptions, parseNar } from "./parse_nar.ts";
export { encodeNarEvents } from "./encode_nar_events.ts";
export { NarValidator, narValidator } from "./nar_validator.ts";
