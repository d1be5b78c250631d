/**
 * Starts a real `arca serve` on a free loopback port for a test, and stops
 * it (by its PID) when the test is done.
 */
import { arcaArgs } from "./_run.ts";

export interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startServer(args: string[], env: Record<string, string>): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: arcaArgs(["serve", "--bind", "127.0.0.1:0", ...args]),
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 20_000;
  while (!/http:\/\/\S+/.test(seen)) {
    if (Date.now() > deadline) throw new Error(`arca serve did not start: ${seen}`);
    const r = await reader.read();
    if (r.done) {
      const err = await new Response(child.stderr).text();
      throw new Error(`arca serve exited: ${seen}${err}`);
    }
    seen += r.value;
  }
  const url = /http:\/\/\S+/.exec(seen)![0];
  // Keep draining so the child never blocks on a full pipe.
  const drainOut = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  const drainErr = child.stderr.pipeTo(new WritableStream());
  return {
    url,
    pid: child.pid,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await drainOut.catch(() => {});
      await drainErr.catch(() => {});
    },
  };
}

/**
 * Makes a path recently used the way a client does: a narinfo GET through a
 * fresh `arca serve`, a second after the last write (access times are
 * flushed when the server stops). Throws unless the path is served.
 */
export async function touchNarinfo(env: Record<string, string>, hashPart: string): Promise<void> {
  const serve = await startServer([], env);
  try {
    await new Promise((r) => setTimeout(r, 1100));
    const hit = await fetch(`${serve.url}/${hashPart}.narinfo`);
    await hit.body?.cancel();
    if (hit.status !== 200) throw new Error(`${hashPart}.narinfo: ${hit.status}`);
  } finally {
    await serve.stop();
  }
}
