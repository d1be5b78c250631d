// PLACEHOLDER: being written; replaced before submission.
import type { Command } from "./_command.ts";

export const signKeygenCommand: Command = {
  name: "sign-keygen",
  summary: "(not yet written)",
  help: "",
  run: () => Promise.resolve(1),
};
