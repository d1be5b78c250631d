/** Whether a lease's holder may still be at work: not expired, and its process exists. */
import { K } from "../kv/keys.ts";
import type { MetaStore } from "../kv/meta_store.ts";
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

/** A lease of a running import or upload, if any. */
export async function liveLease(meta: MetaStore, now = Date.now()): Promise<Lease | undefined> {
  for await (const [, l] of meta.scan<Lease>(K.leasePrefix)) {
    if (await leaseHeld(l, now)) return l;
  }
  return undefined;
}
