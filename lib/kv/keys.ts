/**
 * Every Deno KV key Arca uses, in one place.
 *
 * | key | value |
 * |---|---|
 * | `["narinfo", hashPart]` | `NarRecord`: one cached store path |
 * | `["narfile", fileHash32]` | `NarFileRecord`: one stored NAR file (several paths may share it) |
 * | `["narhash", narHash32]` | fileHash32 of a stored NAR with that content (uploads, dedup of whole NARs) |
 * | `["quarantine", hashPart]` | a path taken out of service, kept for inspection |
 * | `["chunk", method, sha256]` | `ChunkLocation`: where a compressed chunk lives, for dedup |
 * | `["pack", packId]` | `{ size, createdAt }` |
 * | `["stats", name]` | `Deno.KvU64` counters, updated in the same commit as what they count |
 * | `["changes", ms, hashPart]` | `"add"` or `"del"`: lets a running `serve` follow other processes |
 * | `["gen"]` | changes on every commit; `serve` watches it |
 * | `["removals"]` | changes on every commit that removes a narinfo; publishing checks it |
 * | `["audit", ms, id]` | `AuditEvent` |
 * | `["access", hashPart]` | ms of the last narinfo hit (batched by `serve`; gc's LRU order) |
 * | `["gcroot", name]` | `GcRoot`: store paths whose closures gc keeps (pins are `pin:<basename>`) |
 * | `["lease", id]` | `Lease`: an import or upload in flight; gc deletes no pack meanwhile |
 * | `["leasegen"]` | rewritten by every new lease: gc removes recent paths only if it did not change |
 * | `["doomed", packId]` | ms when gc found the pack unused; deleted a grace period later |
 * | `["gclock"]` | `Lease` of the gc run in progress |
 * | `["upload", name]` | `{ narHash, narSize, time }`: a NAR file uploaded under `nar/<name>` |
 * | `["swarm", "entry", segment, key]` | encoded swarm entry state (`lib/swarm/proto/entry.ts`) |
 * | `["swarm", "status"]` | `SwarmStatusRecord`: the running swarm's node and peers, for `arca status` |
 * | `["runs", kind, field]` | `Deno.KvU64`: runs of `import` or `gc` by any process: `count`, `ms`, `items`, `last` |
 */
export const K = {
  narinfo: (hashPart: string) => ["narinfo", hashPart] as const,
  narinfoPrefix: ["narinfo"] as const,
  narfile: (fileHash32: string) => ["narfile", fileHash32] as const,
  narfilePrefix: ["narfile"] as const,
  quarantine: (hashPart: string) => ["quarantine", hashPart] as const,
  narhash: (narHash32: string) => ["narhash", narHash32] as const,
  chunk: (method: string, id: Uint8Array) => ["chunk", method, id] as const,
  chunkPrefix: ["chunk"] as const,
  pack: (id: string) => ["pack", id] as const,
  packPrefix: ["pack"] as const,
  stat: (name: StatName) => ["stats", name] as const,
  change: (ms: number, hashPart: string) => ["changes", ms, hashPart] as const,
  changesPrefix: ["changes"] as const,
  gen: ["gen"] as const,
  removals: ["removals"] as const,
  audit: (ms: number, id: string) => ["audit", ms, id] as const,
  auditPrefix: ["audit"] as const,
  access: (hashPart: string) => ["access", hashPart] as const,
  accessPrefix: ["access"] as const,
  gcroot: (name: string) => ["gcroot", name] as const,
  gcrootPrefix: ["gcroot"] as const,
  lease: (id: string) => ["lease", id] as const,
  leasePrefix: ["lease"] as const,
  leaseGen: ["leasegen"] as const,
  doomed: (packId: string) => ["doomed", packId] as const,
  doomedPrefix: ["doomed"] as const,
  gcLock: ["gclock"] as const,
  upload: (name: string) => ["upload", name] as const,
  uploadPrefix: ["upload"] as const,
  swarmEntry: (segment: string, key: string) => ["swarm", "entry", segment, key] as const,
  swarmEntryPrefix: (segment: string) => ["swarm", "entry", segment] as const,
  swarmStatus: ["swarm", "status"] as const,
  run: (kind: RunKind, field: RunField) => ["runs", kind, field] as const,
};

/** Work whose runs are counted and timed in KV (`/metrics` reads them). */
export type RunKind = "import" | "gc";
/** `count` runs, `ms` their summed duration, `items` paths imported or removed, `last` ms of the latest end. */
export type RunField = "count" | "ms" | "items" | "last";

export type StatName = "paths" | "narBytes" | "fileBytes" | "storedBytes" | "chunks";
export const STAT_NAMES: StatName[] = ["paths", "narBytes", "fileBytes", "storedBytes", "chunks"];
