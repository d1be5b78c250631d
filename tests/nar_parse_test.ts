/** The streaming NAR parser: events, split invariance, round trips, the validator. */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodeNar,
  encodeNarEvents,
  type NarEvent,
  narValidator,
  parseNar,
} from "../lib/nar/mod.ts";
import {
  collect,
  feed,
  mergeContents,
  refEvents,
  refNar,
  type Spec,
  specArb,
  specNode,
} from "./_nar_fixtures.ts";

const enc = new TextEncoder();
const sample: Spec = {
  type: "directory",
  entries: [
    ["b", { type: "regular", executable: true, data: enc.encode("#!/bin/sh\n") }],
    ["a", { type: "directory", entries: [["empty", { type: "directory", entries: [] }]] }],
    ["l", { type: "symlink", target: "a/empty" }],
    ["é", { type: "regular", executable: false, data: new Uint8Array(0) }],
  ],
};

async function reencode(events: NarEvent[]): Promise<Uint8Array> {
  return await collect(ReadableStream.from(events).pipeThrough(encodeNarEvents()));
}

Deno.test("parseNar emits the tree's events in NAR order", async () => {
  const events = await feed(refNar(sample), [], parseNar());
  assert.deepEqual(events.map((e) => `${e.type} ${e.path}`), [
    "directory ",
    "directory a",
    "directory a/empty",
    "directory-end a/empty",
    "directory-end a",
    "regular b",
    "contents b",
    "regular-end b",
    "symlink l",
    "regular é",
    "regular-end é",
    "directory-end ",
  ]);
  assert.deepEqual(mergeContents(events), refEvents(sample));
});

Deno.test("parseNar gives the same events for every split, down to 1-byte pieces", async () => {
  const nar = refNar(sample);
  const whole = mergeContents(await feed(nar, [], parseNar()));
  const ones = Array.from({ length: nar.length }, (_, i) => i);
  assert.deepEqual(mergeContents(await feed(nar, ones, parseNar())), whole);
  for (let cut = 1; cut < nar.length; cut++) {
    assert.deepEqual(mergeContents(await feed(nar, [cut], parseNar())), whole, `cut at ${cut}`);
  }
});

Deno.test("parse then re-encode is the identity on random trees, for random splits", async () => {
  await fc.assert(
    fc.asyncProperty(
      specArb,
      fc.array(fc.nat({ max: 20000 }), { maxLength: 30 }),
      async (spec, cuts) => {
        const nar = await collect(encodeNar(specNode(spec)));
        const events = await feed(nar, cuts, parseNar());
        assert.deepEqual(mergeContents(events), refEvents(spec));
        assert.deepEqual(await reencode(events), nar);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("small random NARs parse identically when fed byte by byte", async () => {
  await fc.assert(
    fc.asyncProperty(specArb, async (spec) => {
      const nar = refNar(spec);
      fc.pre(nar.length <= 4000);
      const ones = Array.from({ length: nar.length }, (_, i) => i);
      const events = await feed(nar, ones, parseNar());
      assert.deepEqual(mergeContents(events), refEvents(spec));
    }),
    { numRuns: 60 },
  );
});

Deno.test("narValidator passes valid bytes through unchanged and counts them", async () => {
  const nar = refNar(sample);
  const v = narValidator();
  const out = await feed(nar, [5, 17, 100, 101], v);
  assert.deepEqual(out.length, 5);
  assert.deepEqual(await collect(ReadableStream.from(out)), nar);
  assert.equal(v.size, nar.length);
});

Deno.test("narValidator errors on a truncated NAR at the end of the stream", async () => {
  const nar = refNar(sample);
  const passed: Uint8Array[] = [];
  const v = narValidator();
  const err = await ReadableStream.from([nar.slice(0, 200)]).pipeThrough(v).pipeTo(
    new WritableStream({ write: (c) => void passed.push(c) }),
  ).then(() => undefined, (e) => e);
  assert.equal(err?.name, "NarError");
  assert.match(err.message, /^Invalid NAR at byte 200: truncated/);
  assert.equal(passed.length, 1, "bytes before the end still flowed");
});

Deno.test("parseNar limits name and target lengths (options)", async () => {
  const long: Spec = {
    type: "directory",
    entries: [["x".repeat(300), { type: "symlink", target: "t".repeat(5000) }]],
  };
  const nar = refNar(long);
  await assert.rejects(feed(nar, [], parseNar()), /an entry name has length 300, more than/);
  await assert.rejects(
    feed(nar, [], parseNar({ maxNameLength: 300 })),
    /the symlink target has length 5000, more than the maximum 4095/,
  );
  const events = await feed(nar, [], parseNar({ maxNameLength: 300, maxTargetLength: 5000 }));
  assert.equal(events.length, 3);
});
