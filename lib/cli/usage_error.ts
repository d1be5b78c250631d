/**
 * A mistake in how the program was called: an unknown command, a bad flag, a
 * missing argument. `main.ts` prints its message on one line and exits with 2.
 */
export class UsageError extends Error {
  override name = "UsageError";
}
