/**
 * A test closure built with the real Nix, shaped to exercise the cache:
 *
 * ```
 * top ──▶ data (50 MB random file)
 *  ├────▶ tool (executable bin/hello) ──▶ lib ──▶ leaf (empty file, empty dir)
 *  └────▶ lib (symlinks, self-reference)
 * ```
 */
import { arca, buildPath, run, runOk, type RunResult } from "./_run.ts";

export interface Closure {
  top: string;
  paths: string[];
}

export async function buildClosure(
  env: Record<string, string>,
  bigBytes = 50_000_000,
): Promise<Closure> {
  const leaf = await buildPath("arca-leaf", "mkdir -p $out/dir; : > $out/empty", env);
  const lib = await buildPath(
    "arca-lib",
    [
      "mkdir -p $out/share",
      "echo 'hello from arca' > $out/share/greeting",
      "ln -s share/greeting $out/greeting-link",
      "ln -s /nonexistent/target $out/dangling",
      "echo $out > $out/self",
      "echo $leaf > $out/leaf-path",
    ].join("; "),
    env,
    { deps: { leaf } },
  );
  const data = await buildPath(
    "arca-data",
    `mkdir -p $out; head -c ${bigBytes} /dev/urandom > $out/big.bin`,
    env,
  );
  const tool = await buildPath(
    "arca-tool",
    [
      "mkdir -p $out/bin",
      `printf '#!/bin/sh\\ncat %s/share/greeting\\n' "$lib" > $out/bin/hello`,
      "chmod +x $out/bin/hello",
    ].join("; "),
    env,
    { deps: { lib } },
  );
  const top = await buildPath(
    "arca-top",
    "mkdir -p $out; ln -s $tool/bin/hello $out/hello; ln -s $data/big.bin $out/big; echo $lib > $out/lib",
    env,
    { deps: { tool, data, lib } },
  );
  const paths = (await runOk("nix-store", ["-qR", top], { env })).trim().split("\n");
  return { top, paths };
}

/** NarHash of every path in the closure, from the local Nix. */
export async function narHashes(
  top: string,
  env: Record<string, string>,
): Promise<Map<string, string>> {
  const json = await runOk("nix", ["path-info", "--json", "-r", top], { env });
  const infos = JSON.parse(json) as { path: string; narHash: string }[];
  return new Map(infos.map((i) => [i.path, i.narHash]));
}

/** A fresh signing key pair made by `arca sign-keygen`. */
export async function makeKey(dir: string, name: string, env: Record<string, string>) {
  const r = await arca(["sign-keygen", "--name", name, "--out-dir", dir], { env });
  if (r.code !== 0) throw new Error(`sign-keygen failed: ${r.stderr}`);
  return {
    secret: `${dir}/${name}.secret`,
    pub: (await Deno.readTextFile(`${dir}/${name}.pub`)).trim(),
  };
}

/** Environment for arca: its own cache dir and config home, the shared Deno cache. */
export function arcaEnv(base: Record<string, string>, dir: string, cacheDir = `${dir}/cache`) {
  return {
    ...base,
    HOME: `${dir}/home`,
    XDG_CONFIG_HOME: `${dir}/home/.config`,
    ARCA_DIR: cacheDir,
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
  };
}

/**
 * `nix-store -r` of `paths` from one substituter, trusting only `publicKey`,
 * with signatures required: how a real client fetches from Arca.
 */
export function substitute(
  paths: string[],
  url: string,
  publicKey: string,
  env: Record<string, string>,
): Promise<RunResult> {
  return run("nix-store", [
    "-r",
    ...paths,
    "--option",
    "substituters",
    url,
    "--option",
    "trusted-public-keys",
    publicKey,
    "--option",
    "require-sigs",
    "true",
  ], { env });
}

/** `nix store verify -r` of `top` against a cache, trusting only `publicKey`. */
export function nixStoreVerify(
  top: string,
  url: string,
  publicKey: string,
  env: Record<string, string>,
): Promise<RunResult> {
  return run("nix", [
    "store",
    "verify",
    "--store",
    url,
    "-r",
    top,
    "--option",
    "trusted-public-keys",
    publicKey,
  ], { env });
}
