/**
 * A response body that is parts of files on disk: a NAR file as extents of
 * pack files, or a flat NAR file's byte range. Every file is opened when the
 * body is made: gc may unlink a pack (or compact it away) while a slow
 * client is still reading, and an unlinked file stays readable only through
 * a handle opened before.
 *
 * The epoll front sends the parts with sendfile (no copy through JS, as
 * nginx does); otherwise `stream()` reads them, synchronously as nginx does
 * by default: files being served are in the page cache, where a read is a
 * copy of ~30 us, and an async read costs a hand-off to a thread and back
 * per read (measured: 25% more server CPU per NAR). The price is that a read
 * from a cold disk stalls the other connections for as long as the disk takes.
 */

export interface FilePart {
  path: string;
  offset: number;
  length: number;
}

const PIECE = 256 * 1024;

export class FileBody {
  readonly length: number;
  #files = new Map<string, { file: Deno.FsFile; pos: number }>();
  #closed = false;

  /**
   * Opens every file of `parts` (throws, with none left open, if one cannot
   * be). `onShort` is told when a file ends before its part does (damage:
   * the parts promised more); the body then fails, which cuts the response.
   */
  constructor(
    readonly parts: readonly FilePart[],
    readonly onShort: (message: string) => Promise<void>,
  ) {
    let n = 0;
    try {
      for (const p of parts) {
        n += p.length;
        if (!this.#files.has(p.path)) {
          this.#files.set(p.path, { file: Deno.openSync(p.path), pos: -1 });
        }
      }
    } catch (e) {
      this.close();
      throw e;
    }
    this.length = n;
  }

  /** Closes the files (a stream closes them itself when it ends). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const f of this.#files.values()) f.file.close();
    this.#files.clear();
  }

  /**
   * The bytes as a byte stream: a BYOB reader (Arca's HTTP server) gets them
   * read straight into its own buffer, across as many parts as fit, so
   * serving allocates nothing per chunk; other readers get 256 KiB pieces.
   */
  stream(): ReadableStream<Uint8Array> {
    const parts = this.parts;
    let k = 0;
    let within = 0;
    const close = () => this.close();
    return new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: PIECE,
      start: (ctl) => {
        if (this.length === 0) {
          close();
          ctl.close();
        }
      },
      pull: async (ctl) => {
        const req = ctl.byobRequest!;
        const v = req.view!;
        const view = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
        let filled = 0;
        try {
          while (filled < view.length && k < parts.length) {
            const p = parts[k];
            const want = Math.min(view.length - filled, p.length - within);
            const f = this.#files.get(p.path)!;
            // Seek only when this read does not continue the last one.
            if (f.pos !== p.offset + within) {
              f.file.seekSync(p.offset + within, Deno.SeekMode.Start);
            }
            const n = f.file.readSync(view.subarray(filled, filled + want));
            if (n === null) {
              const msg = `${p.path} ends at ${p.offset + within}, wanted ${p.offset + p.length}`;
              await this.onShort(msg);
              throw new RangeError(msg);
            }
            f.pos = p.offset + within + n;
            filled += n;
            within += n;
            if (within === p.length) {
              within = 0;
              k++;
            }
          }
        } catch (e) {
          close();
          throw e;
        }
        req.respond(filled);
        if (k === parts.length) {
          close();
          ctl.close();
        }
      },
      cancel: close,
    });
  }
}
