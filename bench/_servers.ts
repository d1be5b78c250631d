/**
 * The two servers under test and the load generator: `arca serve` as its own
 * process, nginx with a generated config serving a `nix copy --to file://`
 * directory, and wrk driven by a Lua script that cycles through a URL list.
 * Servers are pinned to one core and wrk to another (taskset), so both
 * servers get the same CPU budget.
 */
import { freePort, sleep } from "./_lib.ts";
import { arcaArgs } from "../tests/_run.ts";

export const SERVER_CPU = "0";
export const CLIENT_CPU = "1";

export interface Server {
  name: string;
  url: string;
  pid: number;
  /** Milliseconds from spawn to the first 200 on the probe path (/nix-cache-info by default). */
  startupMs: number;
  stop(): Promise<void>;
}

/** Spawns a server, waits for /nix-cache-info to answer 200, and wraps its stop. */
async function launch(
  name: string,
  cmd: string[],
  port: number,
  env: Record<string, string> | undefined,
  probe = "/nix-cache-info",
): Promise<Server> {
  const url = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Keep draining so the child never blocks on a full pipe; keep the tail for errors.
  let log = "";
  const keep = (s: ReadableStream<Uint8Array>) =>
    s.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void (log = (log + t).slice(-4000)) }),
    ).catch(() => {});
  const drained = Promise.all([keep(child.stdout), keep(child.stderr)]);
  let exited = false;
  child.status.then(() => exited = true);
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const t = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      await child.status;
      clearTimeout(t);
    }
    await drained;
  };
  const deadline = t0 + 30_000;
  for (;;) {
    if (exited) {
      await drained;
      throw new Error(`${name} exited before serving: ${log}`);
    }
    let status: number | undefined;
    try {
      const r = await fetch(`${url}${probe}`);
      await r.body?.cancel();
      status = r.status;
    } catch { /* not listening yet */ }
    if (status === 200) break;
    if (status !== undefined) {
      await stop();
      throw new Error(`${name} answered ${probe} with ${status}: ${log}`);
    }
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`${name} did not answer within 30 s: ${log}`);
    }
    await sleep(2);
  }
  return { name, url, pid: child.pid, startupMs: performance.now() - t0, stop };
}

/** `arca serve` on a free port, pinned to SERVER_CPU; `env` carries ARCA_DIR. */
export function startArca(env: Record<string, string>, probe?: string): Promise<Server> {
  const port = freePort();
  return launch(
    "arca",
    [
      "taskset",
      "-c",
      SERVER_CPU,
      Deno.execPath(),
      ...arcaArgs([
        "serve",
        "--bind",
        `127.0.0.1:${port}`,
      ]),
    ],
    port,
    env,
    probe,
  );
}

/**
 * nginx serving `root` (a `nix copy --to file://` directory): one worker,
 * sendfile, no access log, no log line per 404, keep-alive without a request
 * cap, open file cache (misses too),
 * narinfo MIME type; everything it writes goes to `workDir`.
 */
export async function startNginx(root: string, workDir: string, probe?: string): Promise<Server> {
  const port = freePort();
  await Deno.mkdir(`${workDir}/tmp`, { recursive: true });
  const conf = `${workDir}/nginx.conf`;
  await Deno.writeTextFile(
    conf,
    `# The worker runs as root: the cache lives in a private (0700) temp dir.
user root;
worker_processes 1;
daemon off;
pid ${workDir}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  open_file_cache max=10000 inactive=60s;
  open_file_cache_errors on;
  # A miss is normal for a cache: do not write an error line per 404.
  log_not_found off;
  client_body_temp_path ${workDir}/tmp/body;
  proxy_temp_path ${workDir}/tmp/proxy;
  fastcgi_temp_path ${workDir}/tmp/fastcgi;
  uwsgi_temp_path ${workDir}/tmp/uwsgi;
  scgi_temp_path ${workDir}/tmp/scgi;
  types {
    text/x-nix-narinfo narinfo;
    text/plain nix-cache-info;
    application/zstd zst;
    application/x-xz xz;
    application/x-nix-nar nar;
  }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`,
  );
  return await launch(
    "nginx",
    ["taskset", "-c", SERVER_CPU, "nginx", "-p", workDir, "-e", "stderr", "-c", conf],
    port,
    undefined,
    probe,
  );
}

export interface WrkResult {
  requests: number;
  seconds: number;
  bytes: number;
  /** Non-2xx/3xx answers. */
  statusErrors: number;
  /** Connect, read, write and timeout errors. */
  ioErrors: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU seconds the server used during the run (set by the caller that measured it). */
  serverCpuSeconds?: number;
}

const LUA = `-- Cycles through the URL paths listed in the file given after '--'.
local reqs = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    reqs[#reqs + 1] = wrk.format("GET", line)
  end
  i = math.random(#reqs) - 1
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
function done(s, latency, requests)
  local e = s.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"us":%d,"bytes":%d,"status":%d,"io":%d,"p50":%d,"p99":%d}\\n',
    s.requests, s.duration, s.bytes, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

/** Runs wrk (one thread, pinned to CLIENT_CPU) against `base` over the paths in `listFile`. */
export async function wrk(
  base: string,
  listFile: string,
  connections: number,
  seconds: number,
  workDir: string,
): Promise<WrkResult> {
  const script = `${workDir}/cycle.lua`;
  await Deno.writeTextFile(script, LUA);
  const out = await new Deno.Command("taskset", {
    args: [
      "-c",
      CLIENT_CPU,
      "wrk",
      "-t1",
      `-c${connections}`,
      `-d${seconds}s`,
      "--timeout",
      "30s",
      "-s",
      script,
      `${base}/`,
      "--",
      listFile,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const m = /WRKJSON (\{.*\})/.exec(text);
  if (out.code !== 0 || !m) {
    throw new Error(`wrk failed (${out.code}): ${text}${new TextDecoder().decode(out.stderr)}`);
  }
  const j = JSON.parse(m[1]);
  return {
    requests: j.requests,
    seconds: j.us / 1e6,
    bytes: j.bytes,
    statusErrors: j.status,
    ioErrors: j.io,
    p50Ms: j.p50 / 1000,
    p99Ms: j.p99 / 1000,
  };
}
