import type { Command } from "./_command.ts";
import { bool, expectPositionals, parseFlags } from "./_args.ts";
import { formatBytes } from "../lib/cli/duration.ts";
import { formatHash } from "../lib/hash/mod.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { swarmLocalPaths } from "../lib/store/swarm_local.ts";
import { sharedOn } from "../lib/swarm/segment_report.ts";
import { SwarmStore } from "../lib/kv/swarm_store.ts";
import { decodeEntry, holderOf, isLive } from "../lib/swarm/proto/entry.ts";
import { encodeNix32 } from "../lib/encoding/mod.ts";
import { existingNodeKey, nixpkgsKeys, segmentRuntimes } from "./_segments.ts";
import {
  effectiveConfig,
  STORE_FLAGS,
  STORE_OPTIONS_HELP,
  storeOverrides,
  withStore,
} from "./_context.ts";

export const listCommand: Command = {
  name: "list",
  help: `Usage: arca list [--json] [--peers]

Prints every cached store path with its NAR size, compression and the swarm
segments it is shared on, sorted by path. With --json, prints a JSON array of
narinfo objects (with "segments"). With --peers, lists instead the paths known
only from swarm peers, with the segment each came from.

Options:
  --json                       JSON output
  --peers                      paths known from peers (replicated narinfos)
${STORE_OPTIONS_HELP}`,
  async run(argv, globals) {
    const p = parseFlags(
      argv,
      { json: { type: "boolean" }, peers: { type: "boolean" }, ...STORE_FLAGS },
      globals,
    );
    expectPositionals(p, 0, 0, "");
    const config = await effectiveConfig(p.globals, storeOverrides(p));
    if (bool(p, "peers")) return await listPeers(config, bool(p, "json"));
    const [infos, segs] = await withStore(config, async (store) => {
      const all = [];
      for await (const i of store.list()) all.push(i);
      all.sort((a, b) => a.storePath < b.storePath ? -1 : 1);
      const segs = new Map<string, string[]>();
      if (store instanceof KvStore) {
        const runtimes = await segmentRuntimes(config);
        const keys = nixpkgsKeys(config);
        for await (const lp of swarmLocalPaths(store).list()) {
          const { shared } = sharedOn(lp, runtimes, keys, config.store_dir);
          segs.set(lp.storePath, shared.map((x) => x.name));
        }
      }
      return [all, segs] as const;
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
          segments: segs.get(i.storePath) ?? [],
        })),
        null,
        2,
      ));
    } else {
      for (const i of infos) {
        const on = segs.get(i.storePath)?.join(",") || "-";
        console.log(`${i.storePath}\t${formatBytes(i.narSize)}\t${i.compression}\t${on}`);
      }
    }
    return 0;
  },
};

/** `list --peers`: live entries of every segment that this node does not hold itself. */
async function listPeers(config: Parameters<typeof segmentRuntimes>[0], json: boolean) {
  const self = await existingNodeKey(config);
  const rows = await withStore(config, async (store) => {
    if (!(store instanceof KvStore)) return [];
    const entries = new SwarmStore(store.meta);
    const out = [];
    for (const seg of config.segments) {
      for await (const { bytes } of entries.list(seg.name)) {
        let e;
        try {
          e = decodeEntry(bytes);
        } catch {
          continue;
        }
        if (!isLive(e) || (self && holderOf(e, self)?.live)) continue;
        out.push({
          storePath: e.storePath,
          narHash: `sha256:${encodeNix32(e.narHash)}`,
          narSize: e.narSize,
          references: e.references,
          sigs: e.sigs,
          segment: seg.name,
          holders: e.holders.filter((h) => h.live).length,
        });
      }
    }
    return out.sort((a, b) => a.storePath < b.storePath ? -1 : 1);
  });
  if (json) console.log(JSON.stringify(rows, null, 2));
  else {
    for (const r of rows) {
      console.log(
        `${r.storePath}\t${formatBytes(r.narSize)}\t${r.segment}\t${r.holders} holder(s)`,
      );
    }
  }
  return 0;
}
