/**
 * A sampling CPU profile of a running Deno process, taken through its
 * inspector (start it with `deno run --inspect=127.0.0.1:9229 …`), summed by
 * function: where the time goes while a load runs. Deno has no `--cpu-prof`.
 *
 *   deno run -A bench/cpu_profile.ts 127.0.0.1:9229 SECONDS [TOP] [SAVE.cpuprofile]
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Profiles the inspector target at `hostPort` for `seconds`; returns the raw V8 profile. */
export async function cpuProfile(hostPort: string, seconds: number): Promise<Profile> {
  const targets = await (await fetch(`http://${hostPort}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = fail;
  });
  let next = 1;
  const waiting = new Map<number, (r: unknown) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.id !== undefined) waiting.get(m.id)?.(m.result);
  };
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((ok) => {
      const id = next++;
      waiting.set(id, ok);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 200 });
  await call("Profiler.start");
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const { profile } = await call("Profiler.stop") as { profile: Profile };
  ws.close();
  return profile;
}

/** Self time per function (name and file:line), largest first, as percentages. */
export function selfTimes(p: Profile): { pct: number; where: string }[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const time = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const file = f.url.replace(/^file:\/\/.*?\/(lib|cmd|ext|node_modules)\//, "$1/");
    const where = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    const dt = p.timeDeltas[i] ?? 0;
    time.set(where, (time.get(where) ?? 0) + dt);
    total += dt;
  });
  return [...time].map(([where, t]) => ({ pct: (100 * t) / total, where })).sort((a, b) =>
    b.pct - a.pct
  );
}

if (import.meta.main) {
  const [hostPort, secs, top, save] = Deno.args;
  if (!hostPort || !secs) {
    console.error("usage: cpu_profile.ts HOST:PORT SECONDS [TOP]");
    Deno.exit(2);
  }
  const profile = await cpuProfile(hostPort, Number(secs));
  // Saved whole for a closer look (Chrome's DevTools open .cpuprofile files).
  if (save) await Deno.writeTextFile(save, JSON.stringify(profile));
  const rows = selfTimes(profile);
  for (const r of rows.slice(0, Number(top ?? 25))) {
    console.log(`${r.pct.toFixed(1).padStart(5)}%  ${r.where}`);
  }
}
