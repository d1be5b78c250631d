/**
 * Test networks made of Linux network namespaces: one namespace holding a
 * bridge, and one per host joined to it by a veth pair, on a /24 of its own.
 * Hosts get multicast (a route for 224.0.0.0/4) unless told otherwise.
 * Everything lives in namespaces the test made (nothing is added to the
 * machine's own network) and `cleanup` deletes them. Needs root; `makeNet`
 * says why it cannot when it cannot.
 */
import { run } from "./_run.ts";

export interface Host {
  /** Namespace name. */
  ns: string;
  ip: string;
  multicast: boolean;
}

export interface Net {
  hosts: Host[];
  cleanup(): Promise<void>;
}

async function ip(args: string[]): Promise<void> {
  const r = await run("ip", args);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

/** Why network namespace tests cannot run here, or undefined when they can. */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "not root (network namespaces need CAP_SYS_ADMIN)";
  const probe = `arca-probe-${crypto.randomUUID().slice(0, 6)}`;
  const r = await run("ip", ["netns", "add", probe]).catch((e) => ({
    code: 1,
    stderr: String(e),
    stdout: "",
  }));
  if (r.code !== 0) return `cannot create a network namespace: ${r.stderr.trim()}`;
  await run("ip", ["netns", "del", probe]);
  return undefined;
}

/** `hosts` hosts on one bridge; `noMulticast` lists (0-based) hosts without multicast. */
export async function makeNet(hosts: number, noMulticast: number[] = []): Promise<Net> {
  const id = crypto.randomUUID().replace(/-/g, "").slice(0, 6);
  const made: string[] = [];
  const net: Net = {
    hosts: [],
    async cleanup() {
      for (const ns of made.reverse()) await run("ip", ["netns", "del", ns]).catch(() => {});
    },
  };
  const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;
  try {
    const br = `arca-${id}-br`;
    await ip(["netns", "add", br]);
    made.push(br);
    await ip(["-n", br, "link", "add", "br0", "type", "bridge"]);
    // Without snooping the bridge floods multicast to every port, as a dumb switch would.
    await ip(["-n", br, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0"]);
    await ip(["-n", br, "link", "set", "br0", "up"]);
    for (let i = 0; i < hosts; i++) {
      const ns = `arca-${id}-h${i}`;
      await ip(["netns", "add", ns]);
      made.push(ns);
      await ip([
        "-n",
        ns,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        `p${i}`,
        "netns",
        br,
      ]);
      await ip(["-n", br, "link", "set", `p${i}`, "master", "br0", "up"]);
      const addr = `${subnet}.${i + 1}`;
      await ip(["-n", ns, "addr", "add", `${addr}/24`, "dev", "eth0"]);
      await ip(["-n", ns, "link", "set", "eth0", "up"]);
      await ip(["-n", ns, "link", "set", "lo", "up"]);
      const multicast = !noMulticast.includes(i);
      if (multicast) await ip(["-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0"]);
      else await ip(["-n", ns, "link", "set", "eth0", "multicast", "off"]);
      net.hosts.push({ ns, ip: addr, multicast });
    }
  } catch (e) {
    await net.cleanup();
    throw e;
  }
  return net;
}

/** Starts `cmd args` inside a host's namespace (the child is the command itself: `ip` execs it). */
export function spawnIn(
  host: Host,
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; stdout?: string; stderr?: string } = {},
): Deno.ChildProcess {
  return new Deno.Command("ip", {
    args: ["netns", "exec", host.ns, cmd, ...args],
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs a command inside a host's namespace to completion. */
export function runIn(
  host: Host,
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string> } = {},
) {
  return run("ip", ["netns", "exec", host.ns, cmd, ...args], { env: opts.env });
}
