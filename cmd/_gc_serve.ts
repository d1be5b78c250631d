/**
 * What `serve` adds for gc: last-access times from narinfo hits (batched),
 * and a gc run every `gc_interval` when `max_size` or `max_age` is set.
 */
import type { Config } from "../lib/config/mod.ts";
import { parseDuration, parseSize } from "../lib/cli/duration.ts";
import { AccessRecorder, gcLoop } from "../lib/gc/mod.ts";
import { storeMeta } from "../lib/store/store_meta.ts";
import type { Store } from "../lib/store/store.ts";
import { gcRunner } from "./_gc_store.ts";

export interface GcWiring {
  /** `createHandler`'s `onAccess` (both backends keep access times in KV). */
  onAccess?: (hashPart: string) => void;
  /** Ends the loop and writes the pending access times. */
  stop(): Promise<void>;
}

export function gcWiring(config: Config, store: Store, signal: AbortSignal): GcWiring {
  const recorder = AccessRecorder.forMeta(storeMeta(store));
  recorder.start();
  let loop: Promise<void> = Promise.resolve();
  if (config.max_size || config.max_age) {
    const opts = {
      maxAgeMs: config.max_age ? parseDuration(config.max_age) : undefined,
      maxBytes: config.max_size ? parseSize(config.max_size) : undefined,
    };
    loop = gcLoop(gcRunner(store), parseDuration(config.gc_interval), opts, signal, (r) => {
      if (r instanceof Error) console.error(`arca: scheduled gc failed: ${r.message}`);
      else {
        if (r.paths.length || r.space.freed) {
          console.error(
            `arca: gc removed ${r.paths.length} paths, freed ${r.space.freed} bytes on disk ` +
              `(cache ${r.space.before} -> ${r.space.after} bytes)`,
          );
        }
        if (!r.space.fits) console.error(`arca: scheduled gc: ${r.space.problem}`);
      }
    });
  }
  return {
    onAccess: recorder.record,
    async stop() {
      await loop;
      await recorder.stop();
    },
  };
}
