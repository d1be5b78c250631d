/**
 * Set reconciliation for swarm replication: two peers holding large, nearly equal sets of 8-byte
 * element ids find their difference with traffic proportional to the difference, not the sets.
 *
 * ```
 * A                                          B
 * fingerprint(set) ----- 24 bytes ---------> equal? done (in sync)
 *                  <---- "sketch of log l" - l = sketchLogFor(estimated difference)
 * sketch.fold(l) ------- 48 * 2^l bytes ---> mine.fold(l).subtract(theirs).peel()
 *                                            -> { mine, theirs } or undefined: ask for l + 1
 * ```
 *
 * Each node keeps, per segment, a {@linkcode SetFingerprint} and a {@linkcode Sketch} at
 * {@linkcode MAX_LOG}, updated with `add`/`remove` as records change (O(1) each), and folds the
 * sketch to whatever size a peer asks for. The sketch is an invertible Bloom lookup table
 * (Eppstein, Goodrich, Uyeda, Varghese, "What's the difference? Efficient set reconciliation
 * without prior context", SIGCOMM 2011) with 3 subtables, whose cell indices are the low bits of
 * Murmur3 hashes so that a big sketch folds into an exact smaller one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_LOG, SetFingerprint, Sketch, sketchLogFor } from "./mod.ts";
 *
 * const alice = { sketch: new Sketch(MAX_LOG), fp: new SetFingerprint() };
 * const bob = { sketch: new Sketch(MAX_LOG), fp: new SetFingerprint() };
 * for (let i = 1; i <= 1000; i++) {
 *   for (const peer of [alice, bob]) {
 *     peer.sketch.add(i, i * 7919);
 *     peer.fp.add(i, i * 7919);
 *   }
 * }
 * alice.sketch.add(0xa11ce, 1);
 * alice.fp.add(0xa11ce, 1);
 * bob.sketch.remove(5, 5 * 7919);
 * bob.fp.remove(5, 5 * 7919);
 * bob.sketch.add(0xb0b, 2);
 * bob.fp.add(0xb0b, 2);
 * assert.ok(!alice.fp.equals(SetFingerprint.decode(bob.fp.encode())));
 *
 * // Bob sends his sketch folded to the size for about 3 differences: log 4, 768 bytes.
 * const log = sketchLogFor(3);
 * const wire = bob.sketch.fold(log).encode();
 * assert.equal(wire.length, 768);
 * const diff = alice.sketch.fold(log).subtract(Sketch.decode(wire)).peel();
 * assert.ok(diff, "decoded");
 * assert.deepEqual(diff.mine.sort((a, b) => a[0] - b[0]), [[5, 5 * 7919], [0xa11ce, 1]]);
 * assert.deepEqual(diff.theirs, [[0xb0b, 2]]);
 * ```
 *
 * @module
 */
export { type Id, idFromBytes, idToBytes } from "./element_id.ts";
export { MAX_LOG } from "./sketch_hashes.ts";
export { Sketch } from "./sketch.ts";
export { SetFingerprint } from "./set_fingerprint.ts";
export { sketchCapacity, sketchLogFor } from "./sketch_log_for.ts";
