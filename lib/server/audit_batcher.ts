/**
 * Collects audit events from the request path and writes them in batches,
 * so that recording a download never waits for a KV commit.
 */
import type { AuditEvent } from "../kv/records.ts";

export class AuditBatcher {
  #pending: AuditEvent[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(private write: (events: AuditEvent[]) => Promise<void>, private everyMs = 1000) {}

  add(ev: AuditEvent): void {
    this.#pending.push(ev);
    if (this.#pending.length >= 500) void this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => void this.flush(), this.everyMs);
    }
  }

  /** Writes what is pending; failures are reported, never thrown into a request. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(() => this.write(batch)).catch((e) => {
      console.error(`arca: could not write ${batch.length} audit events: ${(e as Error).message}`);
    });
    return this.#flushing;
  }
}
