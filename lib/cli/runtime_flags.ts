/**
 * How the program must be started, shared by every launcher: the `deno.json`
 * tasks, `deno compile`, the flake's wrapper, tests and benchmarks
 * (`tests/launch_flags_test.ts` checks that they agree).
 *
 * `--optimize-for-size` makes V8 keep its heaps small: without it the young
 * generation alone grew to ~56 MiB during an import of many paths, and peak
 * RSS was 276-294 MiB for a 254-path closure and ~175 MiB for a 1 GiB NAR,
 * against ~170 and ~137 with it, at the same import speed within this
 * machine's noise; `serve` peaks at ~73 MiB instead of ~105. The price is in
 * `serve`'s narinfo hot path: a young generation of ~1 MiB is scavenged ~7x
 * as often (~6% of its CPU instead of ~1.5%), measured as ~7% more CPU per
 * narinfo hit. A 4 MiB young generation (`--max-semi-space-size=4`) would
 * halve that but put the 1 GiB import back at ~149 MiB.
 *
 * V8 reads heap flags when an isolate is created, so they cannot be set from
 * inside the program.
 */
export const V8_FLAGS = "--optimize-for-size";
