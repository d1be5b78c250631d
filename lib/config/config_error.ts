/**
 * The one error the configuration code throws. Its message is a single line
 * that names where the bad value came from (file and line, environment
 * variable, or flag) and what is wrong with it, e.g.
 * `config error: /etc/arca.toml:7: unknown key "compresion" (did you mean "compression"?)`.
 *
 * @module
 */

/** A bad configuration file, environment variable or flag value. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(where: string, detail: string) {
    super(`config error: ${where}: ${detail}`);
  }
}
