/**
 * Shared benchmark helpers: statistics over repeated runs, process
 * measurement through /proc (peak RSS, CPU time), running a child while
 * sampling it, free ports, machine facts and markdown tables.
 */

/** Median, min and max of repeated measurements; `noisy` when max-min exceeds 20% of the median. */
export interface Stats {
  median: number;
  min: number;
  max: number;
  runs: number;
  noisy: boolean;
}

export function stats(xs: number[]): Stats {
  if (xs.length === 0) return { median: NaN, min: NaN, max: NaN, runs: 0, noisy: false };
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  const min = s[0], max = s[s.length - 1];
  return { median, min, max, runs: s.length, noisy: median !== 0 && (max - min) / median > 0.2 };
}

/** Clock ticks per second for /proc/<pid>/stat times; Linux exports 100 everywhere we run. */
const CLK_TCK = 100;

/** Reads a file under /proc, or undefined when the process is gone. */
function readProc(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** VmHWM (peak) and VmRSS (current) of one process in KiB, or undefined when it is gone. */
export function memoryKiB(pid: number): { hwm: number; rss: number } | undefined {
  const text = readProc(`/proc/${pid}/status`);
  if (!text) return undefined;
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
  return { hwm: field("VmHWM"), rss: field("VmRSS") };
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces). */
function statFields(pid: number | "self"): string[] | undefined {
  const text = readProc(`/proc/${pid}/stat`);
  if (!text) return undefined;
  return text.slice(text.lastIndexOf(")") + 2).trim().split(" ");
}

/** User+system CPU seconds of a running process (its own threads, not its children). */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  // After the name: state=0, ..., utime=11, stime=12.
  return f ? (Number(f[11]) + Number(f[12])) / CLK_TCK : NaN;
}

/** CPU seconds of this process's waited-for children (cutime+cstime), for exact per-child deltas. */
export function childrenCpuSeconds(): number {
  const f = statFields("self")!;
  return (Number(f[13]) + Number(f[14])) / CLK_TCK;
}

/** A process and all its descendants, via /proc/<pid>/task/<tid>/children. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tids: string[] = [];
    try {
      tids = [...Deno.readDirSync(`/proc/${out[i]}/task`)].map((e) => e.name);
    } catch { /* gone */ }
    for (const tid of tids) {
      const kids = readProc(`/proc/${out[i]}/task/${tid}/children`)?.trim();
      if (kids) out.push(...kids.split(" ").map(Number));
    }
  }
  return out;
}

/** CPU seconds of a process tree (nginx: master + worker). */
export function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((n, p) => n + (cpuSeconds(p) || 0), 0);
}

/** Current RSS of a process tree in MiB (nginx = master + worker). */
export function treeRssMiB(pid: number): number {
  return processTree(pid).reduce((n, p) => n + (memoryKiB(p)?.rss ?? 0), 0) / 1024;
}

export interface Measured {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
  cpuSeconds: number;
  /** VmHWM of the child as last sampled (every 20 ms) before it exited. */
  peakRssMiB: number;
}

/** Children of `runMeasured` still running, so a failing or interrupted run can stop them. */
const live = new Set<Deno.ChildProcess>();

/** Kills (SIGKILL) every `runMeasured` child still running. */
export function killMeasuredChildren(): void {
  for (const c of live) {
    try {
      c.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}

/**
 * Runs a program to completion, timing it, sampling its VmHWM and taking its
 * CPU time (its own and its waited-for children's) from this process's
 * cutime/cstime. Only correct when no other child exits meanwhile.
 */
export async function runMeasured(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutSeconds?: number } = {},
): Promise<Measured> {
  const cpu0 = childrenCpuSeconds();
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child);
  // A hung child must not hang the whole suite.
  const limit = opts.timeoutSeconds ?? 900;
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, limit * 1000);
  let hwm = 0;
  const sample = () => {
    hwm = Math.max(hwm, memoryKiB(child.pid)?.hwm ?? 0);
  };
  sample();
  const timer = setInterval(sample, 20);
  const [out, err, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.status,
  ]).finally(() => {
    clearInterval(timer);
    clearTimeout(killer);
    live.delete(child);
  });
  const seconds = (performance.now() - t0) / 1000;
  return {
    code: status.code,
    stdout: out,
    stderr: status.signal === "SIGKILL" ? `${err}\n(killed after ${limit} s)` : err,
    seconds,
    cpuSeconds: childrenCpuSeconds() - cpu0,
    peakRssMiB: hwm / 1024,
  };
}

/** Runs a program and returns its stdout; throws with its stderr on a non-zero exit. */
export async function sh(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    env: opts.env,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${out.code}: ${dec.decode(out.stderr).slice(-2000)}`,
    );
  }
  return dec.decode(out.stdout);
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Sums the sizes of all files under `dir` (no symlinks followed). */
export async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) n += await dirBytes(p);
    else if (e.isFile) n += (await Deno.lstat(p)).size;
  }
  return n;
}

/** Machine facts and tool versions for the results header. */
export async function machineInfo(): Promise<Record<string, string>> {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readProc("/proc/cpuinfo") ?? "")?.[1] ?? "?";
  const memKiB = Number(/^MemTotal:\s+(\d+)/m.exec(readProc("/proc/meminfo") ?? "")?.[1] ?? 0);
  const first = async (cmd: string, args: string[]) => {
    try {
      const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      return text.trim().split("\n")[0];
    } catch {
      return "not installed";
    }
  };
  return {
    date: new Date().toISOString(),
    cpus: String(navigator.hardwareConcurrency),
    cpu,
    memory: `${(memKiB / 1024 / 1024).toFixed(1)} GiB`,
    kernel: (readProc("/proc/sys/kernel/osrelease") ?? "?").trim(),
    // Other work on the machine makes every figure noisier: record it.
    "load average at start (1/5/15 min)": (readProc("/proc/loadavg") ?? "?").split(" ").slice(0, 3)
      .join(" "),
    deno: `${Deno.version.deno} (v8 ${Deno.version.v8})`,
    nix: await first("nix", ["--version"]),
    nginx: await first("nginx", ["-v"]),
    wrk: (await first("wrk", ["--version"])).replace(/ Copyright.*/, ""),
  };
}

/**
 * A GitHub markdown table; cells are padded so the text form lines up too. A `|` inside a cell
 * (a shell pipeline in a baseline's name) is escaped, or it would split the cell.
 */
export function markdownTable(headers: string[], cellRows: string[][]): string {
  const rows = cellRows.map((r) => r.map((c) => (c ?? "").replaceAll("|", "\\|")));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (c ?? "").padEnd(widths[i])).join(" | ")} |`;
  return [line(headers), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)]
    .join(
      "\n",
    );
}

/** Formats a number with a sensible number of digits for a table. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return "-";
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString("en-US");
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** Writes a markdown report and formats it with `deno fmt`, so a committed report passes `deno fmt --check`. */
export async function writeReport(path: string, md: string): Promise<void> {
  await Deno.writeTextFile(path, md);
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path] }).output();
  if (!fmt.success) throw new Error(`deno fmt ${path}: ${new TextDecoder().decode(fmt.stderr)}`);
}

/**
 * A one-table report (workload, result, detail, target) as the side benchmarks write it: title,
 * the command and date, the machine, a short description of the setup, the table.
 */
export async function writeWorkloadReport(
  path: string,
  title: string,
  command: string,
  setup: string[],
  rows: string[][],
): Promise<string> {
  const info = await machineInfo();
  const md = [
    `# ${title}`,
    "",
    `\`${command}\`, ${new Date().toISOString()}.`,
    Object.entries(info).map(([k, v]) => `${k}: ${v}`).join("; "),
    "",
    ...setup,
    "",
    markdownTable(["workload", "result", "detail", "target"], rows),
    "",
  ].join("\n");
  await writeReport(path, md);
  return md;
}
