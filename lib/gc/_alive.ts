/** Whether a lease's holder may still be at work: not expired, and its process exists. */
import type { Lease } from "../kv/records.ts";

export async function leaseHeld(l: Lease, now = Date.now()): Promise<boolean> {
  if (l.expiresAt <= now) return false;
  try {
    await Deno.stat(`/proc/${l.pid}`);
    return true;
  } catch {
    return false;
  }
}
