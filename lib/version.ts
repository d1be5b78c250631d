/** The program version, printed by `arca --version` and `/health`. */
export const VERSION = "0.1.0";
