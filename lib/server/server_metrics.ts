/**
 * What `serve` counts for /metrics and the status page, on the main thread:
 * responses of the app by route and status (from `HttpApp.observe`), the
 * drivers' own answers (wire counters, written by the thread that answers
 * quick requests), and upload outcomes. Recording is a Map update per
 * response that reached the app; quick answers cost two typed-array adds in
 * the driver (wire_counters.ts).
 */
import type { MetricFamily, Sample } from "../metrics/mod.ts";
import type { UploadOutcome } from "./upload/mod.ts";
import { newWireCounters, WIRE, WireCounterReader } from "./wire_counters.ts";
import type { StatusSnapshot } from "./status_source.ts";

/** Routes as metric labels: a fixed set, so no client can make new series. */
export type Route =
  | "narinfo"
  | "nar"
  | "nix_cache_info"
  | "log"
  | "listing"
  | "realisation"
  | "upload"
  | "gcroots"
  | "health"
  | "status"
  | "metrics"
  | "other";

/** The route a request belongs to, by method and path. */
export function routeOf(method: string, path: string): Route {
  if (path.startsWith("/gcroots/")) return "gcroots";
  if (method === "PUT") return "upload";
  if (path.startsWith("/nar/")) return "nar";
  if (path.length === 41 && path.endsWith(".narinfo")) return "narinfo";
  if (path === "/nix-cache-info") return "nix_cache_info";
  if (path.startsWith("/log/")) return "log";
  if (path.length === 36 && path.endsWith(".ls")) return "listing";
  if (path.startsWith("/realisations/") || path.startsWith("/build-trace-v2/")) {
    return "realisation";
  }
  if (path === "/health") return "health";
  if (path === "/" || path === "/status.json") return "status";
  if (path === "/metrics") return "metrics";
  return "other";
}

/** Traffic since `serve` started, for the status page. */
export interface Traffic {
  requests: number;
  narinfoHits: number;
  narinfoMisses: number;
  /** Response bytes (heads and bodies) of every route. */
  bytes: number;
  /** Response bytes of NAR downloads. */
  narBytes: number;
  uploadsAccepted: number;
  uploadsRefused: number;
}

export class ServerMetrics {
  /** Give these to `serveHttp` (`HttpApp.counters`). */
  readonly counters = newWireCounters();
  readonly startedAt = Date.now();
  readonly #wire = new WireCounterReader(this.counters);
  /** `route status` → responses. */
  readonly #requests = new Map<string, number>();
  readonly #bytes = new Map<Route, number>();
  readonly #accepted = new Map<string, number>();
  readonly #refused = new Map<string, number>();

  /** `HttpApp.observe`. */
  readonly observe = (method: string, path: string, status: number, bytes: number): void => {
    const route = routeOf(method, path);
    const key = `${route} ${status}`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    this.#bytes.set(route, (this.#bytes.get(route) ?? 0) + bytes);
  };

  /** The upload handler's `onOutcome`. */
  readonly upload = (o: UploadOutcome): void => {
    const [map, k] = "accepted" in o ? [this.#accepted, o.accepted] : [this.#refused, o.refused];
    map.set(k, (map.get(k) ?? 0) + 1);
  };

  /** Samples the wire counters every second (they wrap at 2^32) until `signal` aborts. */
  start(signal: AbortSignal): void {
    const timer = setInterval(() => this.#wire.sample(), 1000);
    Deno.unrefTimer(timer);
    signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  }

  traffic(): Traffic {
    const sum = (m: Map<unknown, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const w = (i: number) => this.#wire.total(i);
    return {
      requests: sum(this.#requests) + w(WIRE.narinfoHit) + w(WIRE.narinfoMiss) +
        w(WIRE.cacheInfo),
      narinfoHits: w(WIRE.narinfoHit) + (this.#requests.get("narinfo 200") ?? 0),
      narinfoMisses: w(WIRE.narinfoMiss) + (this.#requests.get("narinfo 404") ?? 0),
      bytes: sum(this.#bytes) + w(WIRE.narinfoBytes) + w(WIRE.cacheInfoBytes),
      narBytes: this.#bytes.get("nar") ?? 0,
      uploadsAccepted: sum(this.#accepted),
      uploadsRefused: sum(this.#refused),
    };
  }

  /** Every family /metrics shows, from these counters and a status snapshot. */
  families(s: StatusSnapshot): MetricFamily[] {
    const w = (i: number) => this.#wire.total(i);
    // Quick answers are the same routes and statuses as the app's.
    const requests = new Map(this.#requests);
    const add = (k: string, n: number) => {
      if (n) requests.set(k, (requests.get(k) ?? 0) + n);
    };
    add("narinfo 200", w(WIRE.narinfoHit));
    add("narinfo 404", w(WIRE.narinfoMiss));
    add("nix_cache_info 200", w(WIRE.cacheInfo));
    const bytes = new Map<string, number>(this.#bytes);
    const addB = (k: string, n: number) => {
      if (n) bytes.set(k, (bytes.get(k) ?? 0) + n);
    };
    addB("narinfo", w(WIRE.narinfoBytes));
    addB("nix_cache_info", w(WIRE.cacheInfoBytes));
    const t = this.traffic();
    const one = (value: number): Sample[] => [{ value }];
    const sec = (ms: number) => ms / 1000;
    const f: MetricFamily[] = [
      {
        name: "arca_build_info",
        help: "Always 1; the labels say which Arca runs and how it serves.",
        type: "gauge",
        samples: [{
          labels: { version: s.version, backend: s.backend, http_io: s.httpIo },
          value: 1,
        }],
      },
      {
        name: "process_start_time_seconds",
        help: "When this serve process started (Unix time).",
        type: "gauge",
        samples: one(sec(this.startedAt)),
      },
      {
        name: "arca_http_requests_total",
        help: "HTTP responses of this process, by route and status (narinfo 200 is a hit, " +
          "404 a miss), including those the HTTP thread answers from memory.",
        type: "counter",
        samples: [...requests].sort().map(([k, value]) => {
          const [route, status] = k.split(" ");
          return { labels: { route, status }, value };
        }),
      },
      {
        name: "arca_http_response_bytes_total",
        help: "Bytes of HTTP responses (status line, header fields and body) handed to " +
          "the sockets by this process, by route; a NAR cut short counts what was sent to it.",
        type: "counter",
        samples: [...bytes].sort().map(([route, value]) => ({ labels: { route }, value })),
      },
      {
        name: "arca_narinfo_requests_total",
        help: "narinfo lookups by this process: hit (200) or miss (404).",
        type: "counter",
        samples: [
          { labels: { result: "hit" }, value: t.narinfoHits },
          { labels: { result: "miss" }, value: t.narinfoMisses },
        ],
      },
      {
        name: "arca_http_refused_connections_total",
        help: "Connections answered 503 because the connection cap was reached.",
        type: "counter",
        samples: one(w(WIRE.refused)),
      },
      {
        name: "arca_http_bad_heads_total",
        help: "Requests whose head could not be read (400, 431), answered by the HTTP layer.",
        type: "counter",
        samples: one(w(WIRE.badHeads)),
      },
      {
        name: "arca_uploads_total",
        help: "Upload requests accepted by this process, by what they stored (nar, " +
          "narinfo published, exists: narinfo already cached, listing, log, realisation, gcroot).",
        type: "counter",
        samples: [...this.#accepted].sort().map(([kind, value]) => ({ labels: { kind }, value })),
      },
      {
        name: "arca_upload_refusals_total",
        help: "Upload requests refused by this process, by reason (unauthorized, disabled, " +
          "bad-request, unsupported, too-large, untrusted, conflict, not-found, internal).",
        type: "counter",
        samples: [...this.#refused].sort().map(([reason, value]) => ({
          labels: { reason },
          value,
        })),
      },
      {
        name: "arca_store_paths",
        help: "Store paths the cache holds (all processes' work, read from the database).",
        type: "gauge",
        samples: one(s.store.paths),
      },
      {
        name: "arca_store_nar_bytes",
        help: "Uncompressed NAR bytes of the paths the cache holds.",
        type: "gauge",
        samples: one(s.store.narBytes),
      },
      {
        name: "arca_store_file_bytes",
        help: "Bytes of the NAR files Nix downloads (compressed, before dedup).",
        type: "gauge",
        samples: one(s.store.fileBytes),
      },
      {
        name: "arca_store_stored_bytes",
        help: "Bytes the cache keeps on disk for its NARs, after dedup and compression.",
        type: "gauge",
        samples: one(s.store.storedBytes),
      },
      {
        name: "arca_store_dedup_ratio",
        help: "File bytes divided by stored bytes (1 when nothing is stored).",
        type: "gauge",
        samples: one(s.dedupRatio),
      },
      {
        name: "arca_store_chunks",
        help: "Distinct compressed chunks stored (kv backend; 0 for filesystem).",
        type: "gauge",
        samples: one(s.store.chunks),
      },
      {
        name: "arca_index_paths",
        help: "narinfos this process holds in memory to serve.",
        type: "gauge",
        samples: one(s.indexPaths),
      },
    ];
    for (const kind of ["import", "gc"] as const) {
      const r = s.runs[kind];
      const who = kind === "import"
        ? "Runs of arca import, import-closure and the post-build hook"
        : "gc runs (arca gc and serve's scheduled gc)";
      f.push(
        {
          name: `arca_${kind}_duration_seconds`,
          help: `${who} recorded in this cache's database by any process: count and summed ` +
            "wall-clock seconds.",
          type: "summary",
          samples: [{ suffix: "_sum", value: sec(r.ms) }, { suffix: "_count", value: r.count }],
        },
        {
          name: `arca_${kind}_${kind === "import" ? "imported" : "removed"}_paths_total`,
          help: `Paths ${kind === "import" ? "imported" : "removed"} by those runs.`,
          type: "counter",
          samples: one(r.items),
        },
        {
          name: `arca_${kind}_last_end_timestamp_seconds`,
          help: `When the latest of those runs ended (Unix time; 0: none yet).`,
          type: "gauge",
          samples: one(sec(r.lastAt)),
        },
      );
    }
    if (s.peers) {
      f.push({
        name: "arca_swarm_peers",
        help: "Peers this cache knows in the swarm.",
        type: "gauge",
        samples: one(s.peers.length),
      });
    }
    if (s.segments) {
      f.push({
        name: "arca_swarm_segments",
        help: "Swarm segments this cache takes part in.",
        type: "gauge",
        samples: one(s.segments.length),
      });
    }
    if (s.replication) {
      const r = s.replication;
      f.push(
        {
          name: "arca_swarm_replicated_paths_total",
          help: "Store paths replicated with peers, by direction (in: fetched, out: served).",
          type: "counter",
          samples: [
            { labels: { direction: "in" }, value: r.pathsIn },
            { labels: { direction: "out" }, value: r.pathsOut },
          ],
        },
        {
          name: "arca_swarm_replicated_bytes_total",
          help: "Bytes replicated with peers, by direction (in: fetched, out: served).",
          type: "counter",
          samples: [
            { labels: { direction: "in" }, value: r.bytesIn },
            { labels: { direction: "out" }, value: r.bytesOut },
          ],
        },
      );
    }
    return f;
  }
}
