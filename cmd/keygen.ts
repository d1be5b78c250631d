import type { Command } from "./_command.ts";
import { expectPositionals, parseFlags } from "./_args.ts";
import { encodeHex } from "../lib/encoding/hex.ts";

export const keygenCommand: Command = {
  name: "keygen",
  help: `Usage: arca keygen

Prints a fresh 256-bit topic key as 64 lowercase hex characters, drawn from
the operating system's secure random source. Peers that share a topic key
form one private segment of the swarm; treat it like a password.`,
  run(argv, globals) {
    const p = parseFlags(argv, {}, globals);
    expectPositionals(p, 0, 0, "");
    console.log(encodeHex(crypto.getRandomValues(new Uint8Array(32))));
    return Promise.resolve(0);
  },
};
