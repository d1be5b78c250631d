/**
 * Peeling (Eppstein et al., "What's the difference?"): repeatedly take a pure cell (one element
 * left in it), record that element and remove it from its 3 cells, which may make others pure.
 * A cell counts as pure only if its count is +1 or -1, its checkSum is the check hash of its idSum
 * AND the idSum hashes to this very cell: a mixture of random ids passes all three with
 * probability about 2^-32 * 2^-log. Ids chosen to defeat the 32-bit check exist (a birthday
 * search finds them in a second), so the result is verified as well: every cell must end at zero
 * and no id may come out twice. Undecodable or forged input gives `undefined`, never a wrong set.
 */
import type { Id } from "./element_id.ts";
import { cellOf, checkHash, SUBTABLES } from "./sketch_hashes.ts";

/** Peels `cells` (4 words per cell: count, idSum lo, idSum hi, checkSum), destroying them. */
export function peelCells(
  cells: Uint32Array,
  log: number,
): { mine: Id[]; theirs: Id[] } | undefined {
  const total = SUBTABLES << log;
  const pure = (cell: number): boolean => {
    const w = cell << 2;
    const count = cells[w] | 0;
    if (count !== 1 && count !== -1) return false;
    const lo = cells[w + 1];
    const hi = cells[w + 2];
    return checkHash(hi, lo) === cells[w + 3] && cellOf(hi, lo, cell >>> log, log) === cell;
  };
  const stack: number[] = [];
  for (let cell = 0; cell < total; cell++) if (pure(cell)) stack.push(cell);
  const mine: Id[] = [];
  const theirs: Id[] = [];
  while (stack.length > 0) {
    const cell = stack.pop()!;
    if (!pure(cell)) continue;
    // Each honest peel empties a cell that stays empty, so more peels than cells means forged
    // input going round in circles.
    if (mine.length + theirs.length >= total) return undefined;
    const w = cell << 2;
    const sign = cells[w] | 0;
    const lo = cells[w + 1];
    const hi = cells[w + 2];
    const check = cells[w + 3];
    (sign === 1 ? mine : theirs).push([hi, lo]);
    for (let t = 0; t < SUBTABLES; t++) {
      const other = cellOf(hi, lo, t, log);
      const v = other << 2;
      cells[v] -= sign;
      cells[v + 1] ^= lo;
      cells[v + 2] ^= hi;
      cells[v + 3] ^= check;
      const count = cells[v] | 0;
      if (other !== cell && (count === 1 || count === -1)) stack.push(other);
    }
  }
  for (let i = 0; i < cells.length; i++) if (cells[i] !== 0) return undefined;
  return distinctIds(mine, theirs) ? { mine, theirs } : undefined;
}

/** True when no id occurs twice across both lists (sorted as u64s, no BigInt arithmetic). */
export function distinctIds(mine: Id[], theirs: Id[]): boolean {
  const n = mine.length + theirs.length;
  if (n < 2) return true;
  const words = new Uint32Array(2 * n);
  let at = 0;
  for (const list of [mine, theirs]) {
    for (const [hi, lo] of list) {
      words[at++] = lo;
      words[at++] = hi;
    }
  }
  // Whatever the host's byte order, each 64-bit lane holds exactly one id, so equal ids sort next
  // to each other and can then be compared word by word.
  new BigUint64Array(words.buffer).sort();
  for (let i = 2; i < words.length; i += 2) {
    if (words[i] === words[i - 2] && words[i + 1] === words[i - 1]) return false;
  }
  return true;
}
