/** The segment and peer part of `arca status` / `arca list` (kv backend). */
import type { Config } from "../lib/config/mod.ts";
import type { Store } from "../lib/store/store.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { swarmLocalPaths } from "../lib/store/swarm_local.ts";
import { type SwarmStatusRecord, SwarmStore } from "../lib/kv/swarm_store.ts";
import { type SegmentReport, segmentReport } from "../lib/swarm/segment_report.ts";
import { existingNodeKey, nixpkgsKeys, segmentRuntimes } from "./_segments.ts";

/** A status record older than this belongs to a swarm that is no longer running. */
const STALE_MS = 15_000;

export interface SwarmReport {
  segments: SegmentReport[];
  /** The running swarm's node and links, when one runs on this cache. */
  swarm?: SwarmStatusRecord;
}

export async function swarmReport(config: Config, store: Store): Promise<SwarmReport | undefined> {
  if (!(store instanceof KvStore)) return undefined;
  const entries = new SwarmStore(store.meta);
  const segments = await segmentReport(
    swarmLocalPaths(store),
    entries,
    await segmentRuntimes(config),
    {
      nixpkgsKeys: nixpkgsKeys(config),
      storeDir: config.store_dir,
      self: await existingNodeKey(config),
    },
  );
  const st = await entries.readStatus();
  const live = st && Date.now() - st.updated < STALE_MS ? st : undefined;
  return { segments, swarm: live };
}
