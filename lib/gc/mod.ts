/**
 * Garbage collection, roots and integrity checks for the kv backend:
 * `planGc` (pure selection), `sweepStore` (mark and sweep of files),
 * `runGc` (both, with audit), `gcLoop` (`serve`'s schedule), roots and pins,
 * `AccessRecorder` (last-access times), `verifyStore` (`arca verify`).
 *
 * @module
 */
export { type GcLimits, type GcPath, type GcPlan, planGc } from "./plan_gc.ts";
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
