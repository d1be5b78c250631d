/**
 * Positioned synchronous reads, for files read from the page cache where a
 * thread hand-off per read would cost more than the copy.
 */

/** Fills `buf` from `offset` of `file`; returns how many bytes it got (fewer only at the end). */
export function readAtSync(file: Deno.FsFile, offset: number, buf: Uint8Array): number {
  file.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < buf.length) {
    const n = file.readSync(buf.subarray(got));
    if (!n) break;
    got += n;
  }
  return got;
}
