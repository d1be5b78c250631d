/**
 * The flags every command that opens the cache understands, apart from the
 * code that opens it (`_context.ts`), so a command's help and flag parsing
 * load nothing heavy.
 */
import { type FlagSpec, type Parsed, str } from "./_args.ts";
import { checkValue, type Config } from "../lib/config/mod.ts";
import { UsageError } from "../lib/cli/usage_error.ts";

/** Flags every command that opens the cache understands. */
export const STORE_FLAGS: FlagSpec = {
  backend: { type: "string" },
  "db-path": { type: "string" },
};

export const STORE_OPTIONS_HELP =
  `  --backend kv|filesystem      metadata backend (default: config 'backend', kv)
  --db-path FILE               Deno KV database (default: <cache-dir>/db)`;

/** Turns `--backend` / `--db-path` into config overrides, checked like config values. */
export function storeOverrides(p: Parsed): Partial<Config> {
  const out: Partial<Config> = {};
  const backend = str(p, "backend");
  const db = str(p, "db-path");
  try {
    if (backend !== undefined) out.backend = checkValue("backend", backend, "--backend");
    if (db !== undefined) out.db_path = checkValue("db_path", db, "--db-path");
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^config error: /, ""));
  }
  return out;
}
