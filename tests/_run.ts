/**
 * Test helpers for driving real programs: Nix 2.8 from Debian and arca itself.
 * Every test that needs Nix calls `nixEnv()` for an isolated client config
 * (no substituters, fresh XDG cache) as PROTOCOL.md describes.
 */

import { V8_FLAGS } from "../lib/cli/runtime_flags.ts";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string | Uint8Array;
}

/** Runs a program to completion and captures its output as text. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
    );
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a program and returns its stdout, failing with its stderr when it exits non-zero. */
export async function runOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

const ROOT = new URL("..", import.meta.url).pathname;

/** The `deno` arguments that start arca the way its launchers do, then `args`. */
export function arcaArgs(args: string[]): string[] {
  return ["run", "-A", "--quiet", `--v8-flags=${V8_FLAGS}`, `${ROOT}main.ts`, ...args];
}

/** Runs `arca` (through `deno run`) with the given args and extra environment. */
export function arca(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(Deno.execPath(), arcaArgs(args), opts);
}

/** A fresh temporary directory, removed by the returned `cleanup`. */
export async function tempDir(
  prefix = "arca-test-",
): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, cleanup: () => Deno.remove(path, { recursive: true }).catch(() => {}) };
}

/**
 * Environment for the Nix client: nix-command enabled, no sandbox, no
 * substituters, no client-side narinfo caching, short timeouts, and a fresh
 * XDG cache so earlier runs cannot hide requests.
 */
export async function nixEnv(extraConfig = ""): Promise<Record<string, string>> {
  if (!(await hasNix())) {
    throw new Error("these tests need Nix (apt-get install nix-bin); .ci/run installs it");
  }
  const xdg = await Deno.makeTempDir({ prefix: "arca-xdg-" });
  xdgDirs.push(xdg);
  return {
    NIX_CONFIG: [
      "experimental-features = nix-command",
      "sandbox = false",
      "substituters =",
      "narinfo-cache-negative-ttl = 0",
      "narinfo-cache-positive-ttl = 0",
      "connect-timeout = 5",
      "stalled-download-timeout = 30",
      "download-attempts = 2",
      extraConfig,
    ].join("\n"),
    XDG_CACHE_HOME: xdg,
  };
}

// Each test file's Nix client caches are removed when its process ends.
const xdgDirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of xdgDirs) {
    try {
      Deno.removeSync(d, { recursive: true });
    } catch { /* already gone */ }
  }
});

let nixPresent: boolean | undefined;
async function hasNix(): Promise<boolean> {
  if (nixPresent === undefined) {
    nixPresent = await run("nix-store", ["--version"]).then((r) => r.code === 0, () => false);
  }
  return nixPresent;
}

/**
 * Builds a derivation from a Nix expression with `nix-build` and returns its
 * output path. `script` is the builder's shell script; `$out` is the output.
 * A random salt makes the path fresh per test run. `opts.deps` maps builder
 * variable names to existing store paths (for references).
 */
export async function buildPath(
  name: string,
  script: string,
  env: Record<string, string>,
  opts: { deps?: Record<string, string>; salt?: string } = {},
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "arca-drv-" });
  const file = `${dir}/default.nix`;
  await Deno.writeTextFile(file, derivationExpr(name, script, opts));
  try {
    const out = await runOk("nix-build", [file, "--no-out-link"], { env });
    return out.trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The Nix expression `buildPath` builds: a derivation running `script` with
 * /bin/sh, a salt for freshness, and `deps` as builder variables holding
 * store paths (using one in the output makes a reference Nix records).
 */
export function derivationExpr(
  name: string,
  script: string,
  opts: { deps?: Record<string, string>; salt?: string } = {},
): string {
  const salt = opts.salt ?? crypto.randomUUID();
  const deps = Object.entries(opts.deps ?? {})
    .map(([k, v]) => `  ${k} = builtins.storePath ${JSON.stringify(v)};\n`)
    .join("");
  return `derivation {
  name = ${JSON.stringify(name)};
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" ${nixString(script)} ];
  PATH = "/usr/bin:/bin";
  salt = ${JSON.stringify(salt)};
${deps}}\n`;
}

/** Quotes text as a Nix string literal (escaping `"`, `\` and `${`). */
export function nixString(s: string): string {
  return '"' + s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$\{/g, "\\${") + '"';
}

/**
 * Deletes store paths from the local store. `buildPath`'s `deps` make the
 * dependent `.drv` files refer to the outputs, so those referrers go too.
 */
export async function deleteStorePaths(
  paths: string[],
  env: Record<string, string>,
): Promise<void> {
  const all = new Set(paths);
  for (const p of paths) {
    const refs = await runOk("nix-store", ["-q", "--referrers-closure", p], { env });
    for (const r of refs.split("\n")) if (r.endsWith(".drv")) all.add(r);
  }
  await runOk("nix-store", ["--delete", "--ignore-liveness", ...all], { env });
}
