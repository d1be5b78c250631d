/**
 * Finds zstd frame boundaries in a byte stream (RFC 8878 section 3.1) without decoding.
 *
 * Needed because node:zlib's streaming zstd decoder in Deno 2.9.6 drops whatever follows the
 * end of a frame within the same write (a body of concatenated chunk frames lost data), and
 * its one-shot decoder accepts a truncated frame silently. So writes are split at frame ends,
 * and a body must end exactly at one.
 */
import { CompressionError } from "./compression.ts";

const enum Phase {
  Magic,
  FrameHeader,
  BlockHeader,
  Skip,
  SkipSize,
}

/** Incremental scanner: `feed` returns the offsets just after each frame end in `data`. */
export class ZstdFrames {
  #phase = Phase.Magic;
  /** Header bytes collected so far, and how many the current phase needs. */
  #hdr = new Uint8Array(18);
  #have = 0;
  #need = 4;
  /** Bytes to skip (block body, checksum, skippable frame body) and what follows. */
  #skip = 0;
  #afterSkip: Phase = Phase.BlockHeader;
  #lastBlock = false;
  #checksum = false;
  #offset = 0;

  /** True when every byte fed so far belongs to complete frames. */
  get atFrameEnd(): boolean {
    return this.#phase === Phase.Magic && this.#have === 0;
  }

  feed(data: Uint8Array): number[] {
    const ends: number[] = [];
    let i = 0;
    while (i < data.length) {
      if (this.#phase === Phase.Skip) {
        const n = Math.min(this.#skip, data.length - i);
        i += n;
        this.#skip -= n;
        if (this.#skip === 0) this.#endSkip(i, ends);
        continue;
      }
      const n = Math.min(this.#need - this.#have, data.length - i);
      this.#hdr.set(data.subarray(i, i + n), this.#have);
      this.#have += n;
      i += n;
      if (this.#have === this.#need) this.#parsed(i, ends);
    }
    this.#offset += data.length;
    return ends;
  }

  #fail(what: string): never {
    throw new CompressionError(`Cannot decompress zstd: ${what} at byte ${this.#offset}`);
  }

  #parsed(i: number, ends: number[]): void {
    const h = this.#hdr;
    const u32 = () => (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0;
    switch (this.#phase) {
      case Phase.Magic: {
        const magic = u32();
        if (magic === 0xfd2fb528) {
          this.#phase = Phase.FrameHeader;
          this.#need = 1; // the descriptor first, then the rest of the header
          this.#have = 0;
          return;
        }
        if ((magic & 0xfffffff0) === 0x184d2a50) return this.#next(Phase.SkipSize, 4);
        this.#fail("not a zstd frame (bad magic)");
        break;
      }
      case Phase.FrameHeader: {
        const fhd = h[0];
        if (fhd & 0x08) this.#fail("reserved bit set in frame header");
        const single = (fhd >> 5) & 1;
        const fcs = [single, 2, 4, 8][fhd >> 6];
        const size = 1 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3] + fcs;
        if (this.#need < size) {
          this.#need = size;
          return;
        }
        this.#checksum = (fhd & 0x04) !== 0;
        return this.#next(Phase.BlockHeader, 3);
      }
      case Phase.BlockHeader: {
        const b = h[0] | (h[1] << 8) | (h[2] << 16);
        const type = (b >> 1) & 3;
        if (type === 3) this.#fail("reserved block type");
        this.#lastBlock = (b & 1) === 1;
        this.#skip = type === 1 ? 1 : b >>> 3;
        this.#afterSkip = Phase.BlockHeader;
        this.#phase = Phase.Skip;
        this.#have = 0;
        if (this.#skip === 0) this.#endSkip(i, ends);
        return;
      }
      case Phase.SkipSize:
        this.#skip = u32();
        this.#afterSkip = Phase.Magic;
        this.#phase = Phase.Skip;
        this.#have = 0;
        if (this.#skip === 0) this.#endSkip(i, ends);
        return;
    }
  }

  /** After a block body (or checksum, or skippable frame): next block, checksum or frame. */
  #endSkip(i: number, ends: number[]): void {
    if (this.#afterSkip === Phase.BlockHeader && this.#lastBlock) {
      this.#lastBlock = false;
      if (this.#checksum) {
        this.#checksum = false;
        this.#skip = 4;
        this.#afterSkip = Phase.Magic;
        return;
      }
      this.#afterSkip = Phase.Magic;
    }
    if (this.#afterSkip === Phase.Magic) {
      ends.push(i);
      return this.#next(Phase.Magic, 4);
    }
    this.#next(Phase.BlockHeader, 3);
  }

  #next(phase: Phase, need: number): void {
    this.#phase = phase;
    this.#need = need;
    this.#have = 0;
  }
}
