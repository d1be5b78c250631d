/**
 * The command table. Add a command by writing `cmd/<name>.ts` exporting a
 * `Command` and listing it here (the order is the help order).
 */
import type { Command } from "./_command.ts";
import { auditCommand } from "./audit.ts";
import { configCommand } from "./config.ts";
import { importCommand } from "./import.ts";
import { importClosureCommand } from "./import_closure.ts";
import { keygenCommand } from "./keygen.ts";
import { listCommand } from "./list.ts";
import { serveCommand } from "./serve.ts";
import { swarmCommand } from "./swarm.ts";
import { signKeygenCommand } from "./sign_keygen.ts";
import { statusCommand } from "./status.ts";
import { signCommand } from "./sign.ts";
import { installHookCommand } from "./install_hook.ts";
import { hookCommand } from "./hook.ts";
import { gcCommand } from "./gc.ts";
import { pinCommand, pinsCommand, unpinCommand } from "./pin.ts";
import { verifyCommand } from "./verify.ts";

export const COMMANDS: readonly Command[] = [
  serveCommand,
  swarmCommand,
  importCommand,
  importClosureCommand,
  listCommand,
  statusCommand,
  auditCommand,
  gcCommand,
  pinCommand,
  unpinCommand,
  pinsCommand,
  verifyCommand,
  signKeygenCommand,
  signCommand,
  installHookCommand,
  hookCommand,
  keygenCommand,
  configCommand,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
