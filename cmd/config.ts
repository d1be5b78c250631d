// PLACEHOLDER: being written; replaced before submission.
import type { Command } from "./_command.ts";

export const configCommand: Command = {
  name: "config",
  summary: "(not yet written)",
  help: "",
  run: () => Promise.resolve(1),
};
