/**
 * The command table. Add a command by writing `cmd/<name>.ts` exporting a
 * `Command` and listing it here (alphabetical order is the help order).
 */
import type { Command } from "./_command.ts";
import { configCommand } from "./config.ts";
import { keygenCommand } from "./keygen.ts";
import { signKeygenCommand } from "./sign_keygen.ts";

export const COMMANDS: readonly Command[] = [
  configCommand,
  keygenCommand,
  signKeygenCommand,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
