/**
 * A streaming bzip2 decoder (`compression=bzip2` is legal for `nix copy`, and a narinfo
 * without a Compression line means bzip2). Written from the format as libbzip2 defines it:
 *
 * ```
 * stream = "BZh" level ( block )* end-of-stream     (streams may follow each other)
 * block  = magic 0x314159265359, CRC, origPtr, symbol map, Huffman tables and
 *          selectors, symbols (MTF + zero runs) → BWT column → inverse BWT → undo RLE1
 * end    = magic 0x177245385090, combined CRC, padding to a byte
 * ```
 *
 * Input is buffered until a whole block is there (a block is at most 900 kB of data, so
 * memory stays near 4 MB plus one block of input); output is passed on in 1 MiB pieces.
 * Every block CRC and the combined CRC are checked; truncated or corrupt input throws
 * `CompressionError`. The pure-JS packages on npm measured ~2 MB/s here and one threw a
 * TypeError on truncated input, hence this one.
 */
import { CompressionError } from "./compression.ts";

const MAX_CODE_LEN = 20;
/** Codes this long or shorter are decoded by one lookup. */
const FAST_BITS = 10;
const GROUP_SIZE = 50;
const OUT_PIECE = 1 << 20;
/** Try a block only with this much input buffered (or at the end): a retry re-reads it. */
const AHEAD = 1_200_000;

/** Thrown inside a block when the input buffered so far ends; the block is retried later. */
class NeedInput extends Error {}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** One group's canonical Huffman code, decoded a bit at a time. */
interface Table {
  count: Int32Array;
  firstCode: Int32Array;
  firstIndex: Int32Array;
  symbols: Uint16Array;
  /** Indexed by the next FAST_BITS bits: `symbol << 5 | length`, or 0 for a longer code. */
  fast: Int32Array;
}

function fail(what: string): never {
  throw new CompressionError(`Cannot decompress bzip2: ${what}`);
}

export class Bzip2Decoder {
  #buf = new Uint8Array(0);
  #len = 0;
  /** Read position in bits from the start of `#buf`. */
  #pos = 0;
  #inStream = false;
  #streams = 0;
  #blockMax = 0;
  #combined = 0;
  #tt = new Uint32Array(0);

  /** Feeds compressed bytes; `emit` receives decompressed pieces. */
  push(piece: Uint8Array, emit: (b: Uint8Array) => void): void {
    this.#append(piece);
    this.#run(emit, false);
  }

  /** Signals the end of input; throws if it ended inside a stream. */
  finish(emit: (b: Uint8Array) => void): void {
    this.#run(emit, true);
    if (this.#inStream) fail("truncated data (the stream has no end marker)");
    if (this.#streams === 0) fail("empty input");
  }

  #append(piece: Uint8Array): void {
    // Drop what was consumed (keeping whole bytes), then grow if needed.
    const keep = this.#pos >>> 3;
    const live = this.#len - keep;
    if (live + piece.length > this.#buf.length) {
      const next = new Uint8Array(Math.max(2 * (live + piece.length), 1 << 16));
      next.set(this.#buf.subarray(keep, this.#len));
      this.#buf = next;
    } else if (keep > 0) {
      this.#buf.copyWithin(0, keep, this.#len);
    }
    this.#len = live;
    this.#pos -= keep * 8;
    this.#buf.set(piece, this.#len);
    this.#len += piece.length;
  }

  #run(emit: (b: Uint8Array) => void, final: boolean): void {
    while (true) {
      const avail = this.#len - (this.#pos >>> 3);
      if (!this.#inStream && avail === 0) return;
      if (!final && avail < (this.#inStream ? AHEAD : 4)) return;
      const start = this.#pos;
      try {
        this.#step(emit);
      } catch (e) {
        if (!(e instanceof NeedInput)) throw e;
        this.#pos = start;
        if (final) fail("truncated data");
        return;
      }
    }
  }

  #step(emit: (b: Uint8Array) => void): void {
    if (!this.#inStream) {
      if (this.#bits(8) !== 0x42 || this.#bits(8) !== 0x5a || this.#bits(8) !== 0x68) {
        fail(this.#streams ? "garbage after the end of the data" : "not bzip2 data (bad magic)");
      }
      const level = this.#bits(8) - 0x30;
      if (level < 1 || level > 9) fail(`bad block size ${level}`);
      this.#blockMax = level * 100_000;
      if (this.#tt.length < this.#blockMax) this.#tt = new Uint32Array(this.#blockMax);
      this.#combined = 0;
      this.#inStream = true;
      return;
    }
    const hi = this.#bits(24);
    const lo = this.#bits(24);
    const crc = this.#bits(32) >>> 0;
    if (hi === 0x314159 && lo === 0x265359) {
      const { n, origPtr } = this.#readBlock();
      // From here on no more input is read: the block can be emitted safely.
      const got = this.#emitBlock(n, origPtr, emit);
      if (got !== crc) fail("block CRC mismatch (corrupt data)");
      this.#combined = (((this.#combined << 1) | (this.#combined >>> 31)) ^ crc) >>> 0;
    } else if (hi === 0x177245 && lo === 0x385090) {
      if (crc !== this.#combined) fail("stream CRC mismatch (corrupt data)");
      this.#pos = (this.#pos + 7) & ~7;
      this.#inStream = false;
      this.#streams++;
    } else {
      fail("bad block header (corrupt data)");
    }
  }

  #bit(): number {
    const p = this.#pos;
    if (p >>> 3 >= this.#len) throw new NeedInput();
    this.#pos = p + 1;
    return (this.#buf[p >>> 3] >>> (7 - (p & 7))) & 1;
  }

  #bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.#bit();
    return v;
  }

  /** Reads one block's symbols into `#tt` (the BWT's last column); returns its length. */
  #readBlock(): { n: number; origPtr: number } {
    // The hot loop reads bits through locals, not fields: several times faster.
    const buf = this.#buf;
    const endBits = this.#len * 8;
    let pos = this.#pos;
    /** `n` (<= 24) bits at `pos`, zero-padded past the data; callers check what they consume. */
    const peek = (n: number) => {
      const i = pos >>> 3;
      const w = (buf[i] << 24) | (buf[i + 1] << 16) | (buf[i + 2] << 8) | buf[i + 3];
      return ((w << (pos & 7)) >>> (32 - n)) >>> 0;
    };
    const bits = (n: number) => {
      const v = peek(n);
      pos += n;
      if (pos > endBits) throw new NeedInput();
      return v;
    };

    if (bits(1)) fail("randomised blocks are not supported");
    const origPtr = bits(24);
    const used = bits(16);
    const seqToByte: number[] = [];
    for (let i = 0; i < 16; i++) {
      if (!(used & (0x8000 >>> i))) continue;
      const m = bits(16);
      for (let j = 0; j < 16; j++) if (m & (0x8000 >>> j)) seqToByte.push(i * 16 + j);
    }
    if (seqToByte.length === 0) fail("block uses no symbols");
    const alphaSize = seqToByte.length + 2;
    const nGroups = bits(3);
    if (nGroups < 2 || nGroups > 6) fail(`bad number of Huffman groups ${nGroups}`);
    const nSelectors = bits(15);
    if (nSelectors === 0) fail("no selectors");
    const order = [0, 1, 2, 3, 4, 5].slice(0, nGroups);
    const selectors = new Uint8Array(nSelectors);
    for (let i = 0; i < nSelectors; i++) {
      let j = 0;
      while (bits(1)) if (++j >= nGroups) fail("bad selector");
      const g = order[j];
      order.splice(j, 1);
      order.unshift(g);
      selectors[i] = g;
    }
    const tables: Table[] = [];
    const lens = new Uint8Array(alphaSize);
    for (let t = 0; t < nGroups; t++) {
      let len = bits(5);
      for (let s = 0; s < alphaSize; s++) {
        while (true) {
          if (len < 1 || len > MAX_CODE_LEN) fail("bad Huffman code length");
          if (!bits(1)) break;
          len += bits(1) ? -1 : 1;
        }
        lens[s] = len;
      }
      tables.push(makeTable(lens));
    }

    const tt = this.#tt;
    const max = this.#blockMax;
    const mtf = new Uint8Array(256);
    for (let i = 0; i < 256; i++) mtf[i] = i;
    const eob = alphaSize - 1;
    let n = 0, group = -1, left = 0, runPos = 0, run = 0;
    let table = tables[0];
    while (true) {
      if (left === 0) {
        if (++group >= nSelectors) fail("more symbols than selectors");
        table = tables[selectors[group]];
        left = GROUP_SIZE;
      }
      left--;
      // Codes up to FAST_BITS long come from one lookup, longer ones from the canonical ranges.
      let sym: number;
      const hit = table.fast[peek(FAST_BITS)];
      if (hit !== 0) {
        sym = hit >>> 5;
        pos += hit & 31;
      } else {
        const v = peek(MAX_CODE_LEN);
        let len = FAST_BITS + 1;
        let k = 0;
        for (; len <= MAX_CODE_LEN; len++) {
          k = (v >>> (MAX_CODE_LEN - len)) - table.firstCode[len];
          if (k >= 0 && k < table.count[len]) break;
        }
        if (len > MAX_CODE_LEN) fail("bad Huffman code");
        sym = table.symbols[table.firstIndex[len] + k];
        pos += len;
      }
      if (pos > endBits) throw new NeedInput();
      if (sym <= 1) {
        // RUNA/RUNB: a run of the front byte, its length in bijective base 2.
        if (runPos === 0) (runPos = 1, run = 0);
        if (runPos > max) fail("run too long");
        run += runPos << sym;
        runPos <<= 1;
        continue;
      }
      if (runPos !== 0) {
        runPos = 0;
        if (n + run > max) fail("block larger than its declared size");
        tt.fill(seqToByte[mtf[0]], n, n + run);
        n += run;
      }
      if (sym === eob) break;
      const idx = sym - 1;
      const v = mtf[idx];
      // A loop beats copyWithin here: indexes are small, and a native call costs more.
      for (let k = idx; k > 0; k--) mtf[k] = mtf[k - 1];
      mtf[0] = v;
      if (n >= max) fail("block larger than its declared size");
      tt[n++] = seqToByte[v];
    }
    if (origPtr >= n) fail("bad BWT origin pointer");
    this.#pos = pos;
    return { n, origPtr };
  }

  /** Inverse BWT and RLE1 of the block in `#tt`; emits it and returns its CRC. */
  #emitBlock(n: number, origPtr: number, emit: (b: Uint8Array) => void): number {
    const tt = this.#tt;
    const start = new Int32Array(257);
    for (let i = 0; i < n; i++) start[(tt[i] & 0xff) + 1]++;
    for (let i = 1; i < 257; i++) start[i] += start[i - 1];
    for (let i = 0; i < n; i++) tt[start[tt[i] & 0xff]++] |= i << 8;

    let out = new Uint8Array(OUT_PIECE);
    let o = 0;
    let crc = 0xffffffff;
    let t = tt[origPtr] >>> 8;
    let last = -1, same = 0;
    for (let k = 0; k < n; k++) {
      t = tt[t];
      const b = t & 0xff;
      t >>>= 8;
      // After four equal bytes comes a count of further copies (RLE1).
      const copies = same === 4 ? b : 1;
      const byte = same === 4 ? last : b;
      if (same === 4) same = 0;
      else if (b === last) same++;
      else (last = b, same = 1);
      for (let r = 0; r < copies; r++) {
        if (o === OUT_PIECE) {
          emit(out);
          out = new Uint8Array(OUT_PIECE);
          o = 0;
        }
        out[o++] = byte;
        crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff];
      }
    }
    if (o > 0) emit(out.subarray(0, o));
    return ~crc >>> 0;
  }
}

/** Canonical code: by length, then by symbol, as libbzip2 assigns them. */
function makeTable(lens: Uint8Array): Table {
  const count = new Int32Array(MAX_CODE_LEN + 1);
  for (const l of lens) count[l]++;
  const firstCode = new Int32Array(MAX_CODE_LEN + 1);
  const firstIndex = new Int32Array(MAX_CODE_LEN + 1);
  let code = 0, index = 0;
  for (let len = 1; len <= MAX_CODE_LEN; len++) {
    firstCode[len] = code;
    firstIndex[len] = index;
    code = (code + count[len]) << 1;
    index += count[len];
  }
  const symbols = new Uint16Array(lens.length);
  const next = firstIndex.slice();
  const fast = new Int32Array(1 << FAST_BITS);
  for (let s = 0; s < lens.length; s++) {
    const len = lens[s];
    const at = next[len]++;
    symbols[at] = s;
    if (len > FAST_BITS) continue;
    // Every FAST_BITS-bit word that starts with this code decodes to it.
    const from = (firstCode[len] + at - firstIndex[len]) << (FAST_BITS - len);
    fast.fill((s << 5) | len, from, from + (1 << (FAST_BITS - len)));
  }
  return { count, firstCode, firstIndex, symbols, fast };
}
