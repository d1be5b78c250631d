/** The import pipeline's ring of job space: in-order taking, any-order giving back, no overlaps. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteRing } from "../lib/store/_byte_ring.ts";

Deno.test("regions never overlap and are reused once everything before them is back", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 16, max: 4096 }),
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 1500 }), fc.nat()), {
        maxLength: 300,
      }),
      (size, ops) => {
        const ring = new ByteRing(size);
        const live: [number, number][] = [];
        for (const [isTake, n, pick] of ops) {
          if (isTake && pick % 5 === 0 && live.length) {
            // Trimming the last region taken frees its end; any other trim does nothing.
            const last = live[live.length - 1];
            ring.trim(last[0], n % (last[1] - last[0] + 1));
            if (n % (last[1] - last[0] + 1) < last[1] - last[0]) {
              last[1] = last[0] + Math.max(1, n % (last[1] - last[0] + 1));
            }
            continue;
          }
          if (isTake || live.length === 0) {
            if (n > size) {
              assert.throws(() => ring.take(n), RangeError);
              continue;
            }
            const at = ring.take(n);
            if (at === undefined) {
              // Refused only when something is still taken.
              assert.ok(live.length > 0, "an empty ring has room for anything that fits");
              continue;
            }
            const end = at + Math.max(1, n);
            assert.ok(at >= 0 && end <= size, `[${at}, ${end}) lies in the ring of ${size}`);
            for (const [s, e] of live) {
              assert.ok(end <= s || at >= e, `[${at},${end}) overlaps [${s},${e})`);
            }
            live.push([at, end]);
          } else {
            const [r] = live.splice(pick % live.length, 1);
            ring.give(r[0]);
          }
          assert.equal(ring.taken, live.length);
        }
      },
    ),
  );
});

Deno.test("a full ring refuses until its oldest region is back; unknown starts are errors", () => {
  const r = new ByteRing(100);
  const a = r.take(50)!, b = r.take(50)!;
  assert.equal(r.take(1), undefined);
  r.give(b);
  assert.equal(r.take(1), undefined, "b is back, but a (older) still holds the head's way");
  r.give(a);
  assert.equal(r.take(100), 0);
  assert.throws(() => r.give(7), RangeError);
});

Deno.test("a ring filled exactly after wrapping around is full", () => {
  const r = new ByteRing(100);
  const a = r.take(60)!;
  r.take(40); // [60, 100)
  r.give(a);
  assert.equal(r.take(20), 0);
  assert.equal(r.take(40), 20); // up to the oldest region, which starts at 60
  assert.equal(r.take(1), undefined);
});
