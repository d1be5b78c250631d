/**
 * Decodes a chunked request body (RFC 9112 section 7.1) incrementally, as
 * bytes arrive in any split. Chunk extensions and trailer fields are read
 * and dropped; every line is capped so a peer cannot make it buffer without
 * bound.
 */
import { HttpError } from "./http_error.ts";

const MAX_LINE = 4096;
const MAX_TRAILERS = 16384;

export interface ChunkedPush {
  /** Bytes of `buf` taken (the rest belongs to the next request). */
  consumed: number;
  /** Body bytes: views into `buf`, valid until it is reused. */
  data: Uint8Array[];
  /** True once the last chunk and the trailer section are complete. */
  done: boolean;
}

export class ChunkedDecoder {
  #state: "size" | "data" | "data-end" | "trailer" | "done" = "size";
  #left = 0;
  #line = "";
  #trailerBytes = 0;
  /** Total body bytes decoded so far. */
  total = 0;

  get done(): boolean {
    return this.#state === "done";
  }

  push(buf: Uint8Array, from: number, to: number): ChunkedPush {
    const data: Uint8Array[] = [];
    let i = from;
    while (i < to && this.#state !== "done") {
      if (this.#state === "data") {
        const n = Math.min(this.#left, to - i);
        data.push(buf.subarray(i, i + n));
        this.total += n;
        this.#left -= n;
        i += n;
        if (this.#left === 0) this.#state = "data-end";
        continue;
      }
      // The other states read CRLF-terminated lines.
      const lf = buf.indexOf(10, i);
      const end = lf < 0 || lf >= to ? to : lf;
      for (let k = i; k < end; k++) this.#line += String.fromCharCode(buf[k]);
      if (this.#line.length > MAX_LINE) throw new HttpError(400, "chunked body: line too long");
      if (end === to) {
        i = to;
        break;
      }
      i = end + 1;
      if (!this.#line.endsWith("\r")) throw new HttpError(400, "chunked body: bare LF");
      const line = this.#line.slice(0, -1);
      this.#line = "";
      this.#takeLine(line);
    }
    return { consumed: i - from, data, done: this.#state === "done" };
  }

  #takeLine(line: string): void {
    switch (this.#state) {
      case "size": {
        const semi = line.indexOf(";");
        const hex = (semi < 0 ? line : line.slice(0, semi)).trimEnd();
        if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) {
          throw new HttpError(400, `chunked body: invalid chunk size "${line.slice(0, 40)}"`);
        }
        this.#left = parseInt(hex, 16);
        this.#state = this.#left === 0 ? "trailer" : "data";
        return;
      }
      case "data-end":
        if (line !== "") throw new HttpError(400, "chunked body: chunk longer than its size");
        this.#state = "size";
        return;
      case "trailer":
        this.#trailerBytes += line.length + 2;
        if (this.#trailerBytes > MAX_TRAILERS) {
          throw new HttpError(400, "chunked body: trailer section too large");
        }
        if (line === "") this.#state = "done";
        return;
    }
  }
}
