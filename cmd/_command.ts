/**
 * The shape every subcommand in `cmd/` exports. `main.ts` looks commands up
 * by name in `cmd/mod.ts` (which also holds their summaries), imports the
 * module and calls `run` with the arguments after the name.
 */
import type { Globals } from "./_args.ts";

export interface Command {
  /** The word typed after `arca`. */
  name: string;
  /** Full text for `arca <cmd> --help`: usage line, description, options. */
  help: string;
  /**
   * Runs the command. `argv` is everything after the command name; parse it
   * with `parseFlags` (which also understands the global flags). Returns the
   * process exit code. Throws `UsageError` for bad calls.
   */
  run(argv: string[], globals: Globals): Promise<number>;
}
