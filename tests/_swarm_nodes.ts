/**
 * Real `arca swarm --also-serve` processes in test namespaces (see
 * `_netns.ts`): their configs, start and stop (SIGTERM or SIGKILL, by the
 * child's PID), their output, and requests to their substituter from
 * inside their namespace.
 */
import { type Host, runIn, spawnIn } from "./_netns.ts";
import { arcaArgs, runOk } from "./_run.ts";

export interface SwarmNode {
  host: Host;
  dir: string;
  config: string;
  env: Record<string, string>;
  child?: Deno.ChildProcess;
  out: string;
}

/** A node's directory and config.toml (`lines` are its configuration). */
export async function makeNode(
  host: Host,
  dir: string,
  lines: string[],
  base: Record<string, string>,
): Promise<SwarmNode> {
  await Deno.mkdir(`${dir}/home`, { recursive: true });
  const config = `${dir}/config.toml`;
  // The substituter listens on the namespace's loopback unless `lines` say otherwise.
  const bind = lines.some((l) => l.startsWith("bind =")) ? [] : [`bind = "127.0.0.1:5555"`];
  await Deno.writeTextFile(
    config,
    [`cache_dir = "${dir}/cache"`, ...bind, ...lines, ""].join("\n"),
  );
  return {
    host,
    dir,
    config,
    out: "",
    env: {
      ...base,
      HOME: `${dir}/home`,
      DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
    },
  };
}

/** `[[segments]]` lines. */
export function segmentLines(
  name: string,
  topicKey: string,
  filter: string,
  trusted: string[],
): string[] {
  return [
    "[[segments]]",
    `name = "${name}"`,
    `topic_key = "${topicKey}"`,
    `filter = "${filter}"`,
    `trusted_public_keys = [${trusted.map((k) => `"${k}"`).join(", ")}]`,
  ];
}

/** `denoFlags` go to `deno run` (e.g. `--inspect` for a profile). */
export function startNode(n: SwarmNode, extra: string[] = [], denoFlags: string[] = []): void {
  const args = arcaArgs(["--config", n.config, "swarm", "--also-serve", ...extra]);
  args.splice(1, 0, ...denoFlags);
  n.child = spawnIn(n.host, Deno.execPath(), args, { env: n.env });
  const dec = new TextDecoder();
  for (const s of [n.child.stdout, n.child.stderr]) {
    void (async () => {
      for await (const c of s) n.out += dec.decode(c);
    })().catch(() => {});
  }
}

export async function stopNode(n: SwarmNode, signal: Deno.Signal): Promise<void> {
  if (!n.child) return;
  try {
    n.child.kill(signal);
  } catch { /* gone */ }
  await n.child.status.catch(() => {});
  n.child = undefined;
}

/** The HTTP status of a narinfo on a node's substituter. */
export async function narinfoStatus(n: SwarmNode, hashPart: string): Promise<string> {
  const r = await runIn(n.host, "curl", [
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    `http://127.0.0.1:5555/${hashPart}.narinfo`,
  ]);
  return r.stdout.trim();
}

/** Runs `arca` with a node's config (no network: runs outside the namespace). */
export function arcaOn(n: SwarmNode, args: string[]): Promise<string> {
  return runOk(Deno.execPath(), arcaArgs(["--config", n.config, ...args]), { env: n.env });
}

/** Waits for `f` (40 s by default), failing with every node's output. */
export async function until(
  what: string,
  f: () => Promise<boolean>,
  nodes: SwarmNode[],
  ms = 40_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) {
      throw new Error(
        `timed out waiting for ${what}\n${nodes.map((n) => `--- ${n.dir}\n${n.out}`).join("\n")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

export function hashOf(storePath: string): string {
  const base = storePath.slice(storePath.lastIndexOf("/") + 1);
  return base.slice(0, 32);
}

/** Kills whatever is still running; for `finally`. */
export async function stopAll(nodes: SwarmNode[]): Promise<void> {
  for (const n of nodes) await stopNode(n, "SIGKILL");
}
