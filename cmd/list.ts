import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags } from "./_args.ts";
import { formatBytes } from "../lib/cli/duration.ts";
import { formatHash } from "../lib/hash/mod.ts";
import {
  effectiveConfig,
  STORE_FLAGS,
  STORE_OPTIONS_HELP,
  storeOverrides,
  withStore,
} from "./_context.ts";

export const listCommand: Command = {
  name: "list",
  summary: "list the cached store paths",
  help: `Usage: arca list [--json]

Prints every cached store path with its NAR size and compression, sorted by
path. With --json, prints a JSON array of narinfo objects.

Options:
  --json                       JSON output
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(argv, { json: { type: "boolean" }, ...STORE_FLAGS }, globals);
    expectPositionals(p, 0, 0, "");
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    const infos = await withStore(config, async (store) => {
      const all = [];
      for await (const i of store.list()) all.push(i);
      return all.sort((a, b) => a.storePath < b.storePath ? -1 : 1);
    });
    if (bool(p, "json")) {
      console.log(JSON.stringify(
        infos.map((i) => ({
          storePath: i.storePath,
          url: i.url,
          compression: i.compression,
          fileHash: i.fileHash && formatHash(i.fileHash),
          fileSize: i.fileSize,
          narHash: formatHash(i.narHash),
          narSize: i.narSize,
          references: i.references,
          deriver: i.deriver,
          sigs: i.sigs,
          ca: i.ca,
        })),
        null,
        2,
      ));
    } else {
      for (const i of infos) {
        console.log(`${i.storePath}\t${formatBytes(i.narSize)}\t${i.compression}`);
      }
    }
    return 0;
  },
};
