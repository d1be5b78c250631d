import type { Command } from "./_command.ts";
import { bool, expectPositionals, noCacheFlag, parseFlags, str, strs } from "./_args.ts";
import { UsageError } from "../lib/cli/usage_error.ts";
import { checkValue, type Config, parseBind } from "../lib/config/mod.ts";
import type { Segment } from "../lib/config/segments.ts";
import { loadNodeKey } from "../lib/io/node_key.ts";
import { encodeHex } from "../lib/encoding/mod.ts";
import { KvStore } from "../lib/store/kv_store.ts";
import { swarmLocalPaths } from "../lib/store/swarm_local.ts";
import { swarmNars } from "../lib/store/swarm_nars.ts";
import { SwarmStore } from "../lib/kv/swarm_store.ts";
import { Swarm } from "../lib/swarm/swarm.ts";
import { topicKeyFromString } from "../lib/swarm/proto/topic.ts";
import { effectiveConfig, STORE_FLAGS, storeOverrides, withStore } from "./_context.ts";
import { nixpkgsKeys, nodeKeyPath, segmentRuntimes } from "./_segments.ts";
import { runServer } from "./_serve_run.ts";

export const swarmCommand: Command = {
  name: "swarm",
  help: `Usage: arca swarm [--topic STRING] [--discovery-port 7070] [--sync-port 7071]
                  [--http-port 5555] [--also-serve] [--static-peer HOST:PORT]...

Joins the swarm segments of the configuration ([[segments]] in config.toml;
by default the universal segment), or with --topic one ad-hoc segment keyed
by that string. Peers are found by UDP multicast on the local network and
through --static-peer addresses; links are TCP with Noise XXpsk3, and only
members of a segment (who know its topic key) can complete a link.

Each segment's narinfos are replicated between its members: only paths that
belong to the segment (import --segment, or its filter) are offered, and a
narinfo from a peer is accepted only with a valid signature by one of the
segment's trusted_public_keys. With --also-serve the substituter runs in the
same process and serves peers' paths too: their NARs are fetched from peers
chunk by chunk over the links, every chunk and the whole NAR checked before
Nix gets the last byte, and kept in this cache.

Runs until SIGINT or SIGTERM.

Options:
  --topic STRING         one ad-hoc segment: every local path, signed by this
                         node's keys (guessable strings are guessable: use
                         'arca keygen' keys in config.toml for private ones)
  --discovery-port N     UDP port of announces (config 'discovery_port')
  --sync-port N          TCP port of peer links (config 'sync_port', 0 = any)
  --http-port N          with --also-serve, the substituter's port (on 'bind')
  --also-serve           also serve the cache over HTTP (config 'also_serve')
  --static-peer H:P      link to this peer without discovery (repeatable; adds
                         to config 'static_peers')
  --no-multicast         static peers only: no announces sent or heard
  --allow-anonymous-upload
                         as for 'serve'`,
  async run(argv, globals) {
    const p = parseFlags(argv, {
      topic: { type: "string" },
      "discovery-port": { type: "string" },
      "sync-port": { type: "string" },
      "http-port": { type: "string" },
      "also-serve": { type: "boolean" },
      "static-peer": { type: "string", multiple: true },
      "no-multicast": { type: "boolean" },
      "allow-anonymous-upload": { type: "boolean" },
      ...STORE_FLAGS,
    }, globals);
    expectPositionals(p, 0, 0, "");
    const flags: Partial<Config> = { ...storeOverrides(p) };
    const port = (name: string, key: "discovery_port" | "sync_port") => {
      const v = str(p, name);
      if (v === undefined) return;
      try {
        flags[key] = checkValue(key, /^\d+$/.test(v) ? BigInt(v) : v, `--${name}`);
      } catch (e) {
        throw new UsageError((e as Error).message.replace(/^config error: /, ""));
      }
    };
    port("discovery-port", "discovery_port");
    port("sync-port", "sync_port");
    const peers = strs(p, "static-peer");
    for (const sp of peers) {
      if (!parseBind(sp)) throw new UsageError(`--static-peer must be HOST:PORT, got '${sp}'`);
    }
    if (bool(p, "also-serve")) flags.also_serve = true;
    noCacheFlag(p.globals, "swarm");
    const config = await effectiveConfig(p.globals, flags);
    const httpPort = str(p, "http-port");
    if (httpPort !== undefined) {
      const n = Number(httpPort);
      if (!/^\d+$/.test(httpPort) || n > 65535) {
        throw new UsageError(`--http-port must be a port number, got '${httpPort}'`);
      }
      config.bind = `${bindHost(config.bind)}:${n}`;
    }
    const topic = str(p, "topic");
    const segments: Segment[] = topic !== undefined
      ? [{
        name: "topic",
        topic_key: topicKeyFromString(topic),
        description: `ad-hoc segment --topic ${JSON.stringify(topic)}`,
        filter: "all",
        trusted_public_keys: [],
      }]
      : config.segments;
    if (!segments.length) throw new UsageError("no segments configured ([[segments]] is empty)");
    if (config.backend !== "kv") {
      throw new UsageError('the swarm needs the kv backend (backend = "kv")');
    }
    const runtimes = await segmentRuntimes(config, segments);
    for (const s of runtimes) {
      if (!s.trusted.length) {
        console.error(
          `arca: swarm: segment ${s.name} trusts no key (no trusted_public_keys and no signing` +
            " key configured): it will accept nothing from peers and offer nothing",
        );
      }
    }
    const keyPath = nodeKeyPath(config);
    const { key, created } = await loadNodeKey(keyPath);
    if (created) console.error(`arca: swarm: made a node key at ${keyPath}`);
    const staticPeers = [...config.static_peers, ...peers].map((s) => {
      const b = parseBind(s)!;
      return { host: b.hostname, port: b.port };
    });

    return await withStore(config, async (store) => {
      if (!(store instanceof KvStore)) throw new UsageError("the swarm needs the kv backend");
      const stop = new AbortController();
      const quit = () => stop.abort();
      Deno.addSignalListener("SIGINT", quit);
      Deno.addSignalListener("SIGTERM", quit);
      const log = (msg: string) => console.error(`arca: swarm: ${msg}`);
      const debug = config.log_level === "debug";
      const entries = new SwarmStore(store.meta);
      let remote: ((h: string, n: string | undefined) => void) | undefined;
      let pendingRemote: [string, string | undefined][] | undefined = config.also_serve
        ? []
        : undefined;
      const swarm = await Swarm.start({
        segments: runtimes,
        staticKey: key,
        storeDir: config.store_dir,
        nixpkgsKeys: nixpkgsKeys(config),
        local: swarmLocalPaths(store),
        entries,
        nars: swarmNars(store, { compression: config.compression, level: config.zstd_level }),
        discovery: bool(p, "no-multicast") ? undefined : {
          port: config.discovery_port,
          group: config.multicast_group,
          iface: config.multicast_interface,
          ttl: config.multicast_ttl,
        },
        sync: { bind: config.swarm_bind, port: config.sync_port },
        staticPeers,
        maxPeers: config.max_peers,
        status: {
          write: (node, peers) => entries.writeStatus({ ...node, updated: Date.now(), peers }),
          clear: () => entries.clearStatus(Deno.pid),
        },
        // The index exists only once the server has loaded: hold peers' narinfos till then.
        onRoundDone: debug
          ? (peer, seg, result) => log(`sync of ${seg} with ${peer.name}: ${result}`)
          : undefined,
        onRemote: config.also_serve
          ? (h, n) => remote ? remote(h, n) : pendingRemote!.push([h, n])
          : undefined,
        log,
      }).catch((e) => {
        Deno.removeSignalListener("SIGINT", quit);
        Deno.removeSignalListener("SIGTERM", quit);
        throw e;
      });
      console.log(
        `arca: swarm node ${encodeHex(key.publicKey).slice(0, 16)} on segments ${
          runtimes.map((s) => s.name).join(", ")
        }; links on port ${swarm.syncPort}` +
          (swarm.discoveryStats ? `, announces on UDP ${config.discovery_port}` : ""),
      );
      try {
        if (config.also_serve) {
          await runServer(config, store, {
            anonymous: p.values["allow-anonymous-upload"] === true,
            signal: stop.signal,
            peerNar: (h, n) => swarm.openNar(h, n),
            swarm: () => swarmFigures(swarm),
            withIndex: (index) => {
              remote = (h, n) => index.setRemote(h, n);
              for (const [h, n] of pendingRemote!) remote(h, n);
              pendingRemote = undefined;
            },
          });
        } else {
          await new Promise<void>((r) => stop.signal.addEventListener("abort", () => r()));
        }
      } finally {
        await swarm.stop();
        Deno.removeSignalListener("SIGINT", quit);
        Deno.removeSignalListener("SIGTERM", quit);
      }
      console.error("arca: swarm stopped");
      return 0;
    });
  },
};

/** What the status page and /metrics show of the swarm. */
function swarmFigures(swarm: Swarm) {
  const peers = swarm.peerStatus();
  const f = swarm.fetchStats;
  return {
    segments: swarm.segmentStats().map((g) => ({ name: g.name, paths: g.live })),
    peers: peers.map((p) => ({ id: p.key.slice(0, 16), address: p.address, lastSeen: Date.now() })),
    replication: {
      pathsIn: peers.reduce((n, p) => n + p.recordsIn, 0),
      pathsOut: peers.reduce((n, p) => n + p.recordsOut, 0),
      bytesIn: f?.fetchedBytes ?? 0,
      bytesOut: peers.reduce((n, p) => n + p.servedBytes, 0),
    },
  };
}

function bindHost(bind: string): string {
  const b = parseBind(bind)!;
  return b.hostname.includes(":") ? `[${b.hostname}]` : b.hostname;
}
