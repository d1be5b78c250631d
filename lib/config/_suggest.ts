/**
 * "Did you mean" for misspelt keys: the closest known name by edit
 * distance, if it is close enough to be a likely typo.
 *
 * @module
 */

/** The candidate nearest to `name`, or undefined when none is near. */
export function suggest(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase().replaceAll("-", "_");
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(lower, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  // A third of the name, at least 2: catches "compresion" and "cachedir", not "foo".
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Levenshtein distance with one rolling row. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, k) => k);
  for (let x = 1; x <= a.length; x++) {
    let diagonal = row[0];
    row[0] = x;
    for (let y = 1; y <= b.length; y++) {
      const up = row[y];
      row[y] = Math.min(row[y] + 1, row[y - 1] + 1, diagonal + (a[x - 1] === b[y - 1] ? 0 : 1));
      diagonal = up;
    }
  }
  return row[b.length];
}
