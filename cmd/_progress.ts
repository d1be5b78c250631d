/**
 * Progress for long imports: a redrawn status line on a terminal (paths,
 * bytes, rate, ETA), nothing but the final summary otherwise.
 */
import { formatBytes } from "../lib/cli/duration.ts";

export class Progress {
  #tty = Deno.stderr.isTerminal();
  #t0 = performance.now();
  #last = 0;
  donePaths = 0;
  doneBytes = 0;
  current = 0;

  constructor(readonly totalPaths: number, readonly totalBytes: number) {}

  /** `bytes` of the path being imported so far. */
  update(bytes: number): void {
    this.current = bytes;
    this.#draw(false);
  }

  pathDone(narSize: number): void {
    this.donePaths++;
    this.doneBytes += narSize;
    this.current = 0;
    this.#draw(true);
  }

  /** Clears the status line before other output. */
  clear(): void {
    if (this.#tty) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  }

  elapsedSeconds(): number {
    return (performance.now() - this.#t0) / 1000;
  }

  #draw(force: boolean): void {
    if (!this.#tty) return;
    const now = performance.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const bytes = this.doneBytes + this.current;
    const secs = Math.max(0.001, (now - this.#t0) / 1000);
    const rate = bytes / secs;
    const eta = rate > 0 ? (this.totalBytes - bytes) / rate : 0;
    const frac = this.totalBytes > 0 ? bytes / this.totalBytes : 1;
    const width = 24;
    const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
    const line = `[${bar}] ${this.donePaths}/${this.totalPaths} paths  ` +
      `${formatBytes(bytes)}/${formatBytes(this.totalBytes)}  ${formatBytes(rate)}/s  ETA ${
        Math.ceil(eta)
      }s`;
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K${line}`));
  }
}
