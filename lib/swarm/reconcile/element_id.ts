/**
 * Element ids: 8 bytes (a truncated SHA-256 of a record's canonical encoding), held as two
 * unsigned 32-bit words so the hot paths stay in small integers (no BigInt). `hi` is the first
 * four bytes read big-endian, `lo` the last four: the tuple orders like the bytes.
 */

/** An element id as its two unsigned 32-bit halves. */
export type Id = [hi: number, lo: number];

/** Reads the 8-byte id at `offset` of `b`. */
export function idFromBytes(b: Uint8Array, offset = 0): Id {
  if (!Number.isInteger(offset) || offset < 0 || offset + 8 > b.length) {
    throw new RangeError(
      `Cannot read element id: need 8 bytes at offset ${offset}, have ${b.length} bytes`,
    );
  }
  const v = new DataView(b.buffer, b.byteOffset + offset, 8);
  return [v.getUint32(0), v.getUint32(4)];
}

/** The 8 bytes of an id (the inverse of {@linkcode idFromBytes}). */
export function idToBytes([hi, lo]: Id): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, hi >>> 0);
  v.setUint32(4, lo >>> 0);
  return out;
}
