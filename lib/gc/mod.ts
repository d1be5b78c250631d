/**
 * Garbage collection, roots and integrity checks:
 * `planGc` (pure selection), `sweepStore` (mark and sweep of files),
 * `runGc` (both, with audit), `gcLoop` (`serve`'s schedule), roots and pins,
 * `AccessRecorder` (last-access times), `verifyStore` (`arca verify`), all
 * for the kv backend; `runFsGc` and `verifyFsStore` for the filesystem one.
 *
 * @module
 */
export { type GcLimits, type GcPath, type GcPlan, type GcShortfall, planGc } from "./plan_gc.ts";
export { type SpaceChoice, SpaceModel } from "./space_model.ts";
export { bytesText, type GcSpace } from "./gc_space.ts";
export { type SweepOptions, type SweepStats, sweepStore, type SweepTarget } from "./sweep_store.ts";
export {
  DEFAULT_GRACE_MS,
  GcBusyError,
  type GcEntry,
  type GcOptions,
  type GcReport,
  runGc,
} from "./run_gc.ts";
export { gcLoop } from "./gc_loop.ts";
export { runFsGc } from "./run_fs_gc.ts";
export { verifyFsStore } from "./verify_fs_store.ts";
export type { FsTarget } from "./_fs_paths.ts";
export {
  listRoots,
  liveRootHashes,
  type NamedRoot,
  pinName,
  putRoot,
  removeRoot,
  RootError,
} from "./roots.ts";
export { AccessRecorder } from "./access_recorder.ts";
export {
  type VerifyOptions,
  type VerifyProblem,
  type VerifyReport,
  verifyStore,
} from "./verify_store.ts";
export { leaseHeld } from "./_alive.ts";
