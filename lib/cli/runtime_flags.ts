/**
 * How the program must be started, shared by every launcher: the `deno.json`
 * tasks, `deno compile`, the flake's wrapper, tests and benchmarks
 * (`tests/launch_flags_test.ts` checks that they agree).
 *
 * `--optimize-for-size` makes V8 keep its heaps small: without it the young
 * generation alone grew to ~56 MiB during an import of many paths, and peak
 * RSS was 276-294 MiB for a 254-path closure and ~175 MiB for a 1 GiB NAR,
 * against ~170 and ~137 with it, at the same speed within this machine's
 * noise. V8 reads heap flags when an isolate is created, so they cannot be
 * set from inside the program.
 */
export const V8_FLAGS = "--optimize-for-size";

/** The `deno run` arguments that start `main.ts` with `V8_FLAGS`. */
export function denoRunArgs(mainTs: string): string[] {
  return ["run", "-A", "--quiet", `--v8-flags=${V8_FLAGS}`, mainTs];
}
