/**
 * `deno task test`'s last step: `deno test -A --doc lib/ tests/` (extra
 * arguments are passed on), with one Ceph RGW started for the whole run
 * instead of one per S3 test file (each file is a fresh isolate, so
 * `tests/_rgw.ts` alone cannot share it). The server's address reaches the
 * tests in `ARCA_TEST_S3_ENV`; its daemons are killed by PID at the end,
 * whatever the tests did. Without radosgw, or with `ARCA_TEST_S3_ENV`
 * already set, it only runs the tests.
 */
import { launchRgw, RGW_MISSING, type RgwProcess } from "./_rgw.ts";

let server: RgwProcess | undefined;
const env: Record<string, string> = {};
if (!RGW_MISSING && !Deno.env.get("ARCA_TEST_S3_ENV")) {
  try {
    server = await launchRgw();
    env.ARCA_TEST_S3_ENV = server.envFile;
  } catch (e) {
    // Each S3 test file then tries on its own and fails with this reason.
    console.error(`tests: starting the run's RGW failed: ${(e as Error).message}`);
  }
}
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--doc", "lib/", "tests/", ...Deno.args],
  env,
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
// Ctrl-C reaches the whole process group; only the server is ours to stop here.
const onSignal = () => {};
Deno.addSignalListener("SIGINT", onSignal);
let code = 1;
try {
  code = (await child.status).code;
} finally {
  Deno.removeSignalListener("SIGINT", onSignal);
  server?.stop();
}
Deno.exit(code);
