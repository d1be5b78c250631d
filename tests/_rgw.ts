/**
 * A real S3 server for the tests: Debian's Ceph RGW (one mon, one memstore
 * osd, one radosgw on 127.0.0.1), started by `tests/s3/ceph-up.sh`. Every
 * test module runs in a fresh isolate, so `deno task test` starts it once
 * for the whole run (`tests/run_suite.ts` puts its address in
 * `ARCA_TEST_S3_ENV`) and each S3 test file makes a bucket of its own. A
 * test file run alone starts its own server the first time it asks for one
 * and kills it by its recorded PIDs when it ends. Ports are picked free.
 *
 * Without `radosgw` installed, `RGW_MISSING` says why and the S3 tests are
 * ignored. `ARCA_TEST_S3_ENV=<dir>/s3.env` reuses a server already running
 * (the run's, or a developer's), which is then left running.
 */
import { S3BlobStore, type S3Options } from "../lib/s3/s3_blob_store.ts";

const ROOT = new URL("..", import.meta.url).pathname;

function installed(): boolean {
  if (Deno.env.get("ARCA_TEST_S3_ENV")) return true;
  for (const b of ["radosgw", "ceph-mon", "ceph-osd", "ceph-authtool", "radosgw-admin"]) {
    if (!["/usr/bin/", "/usr/sbin/"].some((d) => exists(d + b))) return false;
  }
  return true;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Why the S3 tests are skipped, or undefined when they run. */
export const RGW_MISSING = installed() ? undefined : "radosgw is not installed " +
  "(apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common)";

if (RGW_MISSING) console.warn(`S3 tests skipped: ${RGW_MISSING}`);

export interface Rgw {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
}

let started: Promise<Rgw> | undefined;

/** The shared server (started on first use) with a bucket made for this run. */
export function rgw(): Promise<Rgw> {
  return started ??= start();
}

/** A running RGW: where its `s3.env` is, and how to stop it (by its daemons' PIDs). */
export interface RgwProcess {
  envFile: string;
  stop(): void;
}

/** Starts an RGW under a fresh temporary directory; throws (after cleaning up) if it does not come up. */
export async function launchRgw(): Promise<RgwProcess> {
  const dir = await Deno.makeTempDir({ prefix: "arca-rgw-" });
  const pids: number[] = [];
  const stop = () => {
    for (const pid of pids.splice(0)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* daemons may still hold it */ }
  };
  const [mon2, mon1, rgwPort] = await freePorts(3);
  const osdBase = 20000 + Math.floor(Math.random() * 20000);
  const t0 = Date.now();
  const out = await new Deno.Command("bash", {
    args: [
      `${ROOT}tests/s3/ceph-up.sh`,
      dir,
      String(mon2),
      String(mon1),
      String(rgwPort),
      String(osdBase),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  for (const l of (await Deno.readTextFile(`${dir}/pids`).catch(() => "")).split("\n")) {
    if (/^\d+$/.test(l)) pids.push(Number(l));
  }
  if (out.code !== 0) {
    stop();
    throw new Error(`ceph-up.sh failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  console.error(`(rgw up in ${((Date.now() - t0) / 1000).toFixed(1)} s on port ${rgwPort})`);
  return { envFile: `${dir}/s3.env`, stop };
}

let own: RgwProcess | undefined;

async function start(): Promise<Rgw> {
  let envFile = Deno.env.get("ARCA_TEST_S3_ENV");
  if (!envFile) {
    own = await launchRgw();
    envFile = own.envFile;
  }
  const env = Object.fromEntries(
    (await Deno.readTextFile(envFile)).split("\n").filter((l) => l.includes("=")).map((l) => [
      l.slice(0, l.indexOf("=")),
      l.slice(l.indexOf("=") + 1),
    ]),
  );
  const server: Rgw = {
    endpoint: env.endpoint,
    accessKeyId: env.access_key_id,
    secretAccessKey: env.secret_access_key,
    bucket: `arca-test-${crypto.randomUUID().slice(0, 8)}`,
  };
  await new S3BlobStore(storeOptions(server, "")).ensureBucket();
  return server;
}

/** Options for a store under `prefix` ("" or ending in "/") of the run's bucket. */
export function storeOptions(r: Rgw, prefix: string, more: Partial<S3Options> = {}): S3Options {
  return {
    endpoint: r.endpoint,
    region: "us-east-1",
    bucket: r.bucket,
    prefix,
    accessKeyId: r.accessKeyId,
    secretAccessKey: r.secretAccessKey,
    pathStyle: true,
    ...more,
  };
}

/** A store under a fresh prefix, so tests sharing the bucket never see each other's objects. */
export async function freshStore(more: Partial<S3Options> = {}): Promise<S3BlobStore> {
  return new S3BlobStore(storeOptions(await rgw(), `t-${crypto.randomUUID()}/`, more));
}

async function freePorts(n: number): Promise<number[]> {
  const ls = Array.from({ length: n }, () => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  const ports = ls.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of ls) l.close();
  return await Promise.resolve(ports);
}

globalThis.addEventListener("unload", () => own?.stop());

/**
 * Runs `arca <args>` and SIGKILLs it as soon as a multipart upload under
 * `dir` of `bucket` shows (polled every 25 ms, 30 s at most); returns how
 * many uploads were pending when it was killed (0: it never got there).
 */
export async function killDuringUpload(
  bucket: S3BlobStore,
  dir: string,
  args: string[],
  env: Record<string, string>,
): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  let pending = 0;
  try {
    for (let i = 0; i < 1200 && pending === 0; i++) {
      pending = (await Array.fromAsync(bucket.pendingUploads(dir))).length;
      if (pending === 0) await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
  }
  return pending;
}
