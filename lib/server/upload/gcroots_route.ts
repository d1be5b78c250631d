/**
 * Named gc roots over HTTP, as gcroots-marker caches take them, behind the
 * same upload token as `nix copy --to`:
 *
 * ```
 * PUT /gcroots/ci-main?expires=7d        (or header X-Arca-Expires: 7d)
 * /nix/store/0c7hc4qmzj1c4xmqzswb1q4k3xajpi8l-system
 * 9y6lj4dljbgnb6hmx5p1ma0i9mbyzf58-hello
 * ```
 *
 * The body names store paths one per line, full or as basenames; blank lines
 * are skipped. A bad line is a 400 naming it. The root replaces any root of
 * that name (201 when new, 200 when replaced); `DELETE /gcroots/<name>`
 * removes it (404 when there is none). Paths need not be cached yet: a root
 * set before its closure is pushed keeps it from the moment it arrives, and
 * the answer says how many are not cached. `pin:` names belong to
 * `arca pin` and are refused here.
 */
import { parseDuration } from "../../cli/duration.ts";
import { listRoots, putRoot, removeRoot } from "../../gc/mod.ts";
import { parseStorePath, parseStorePathBase } from "../../store_path/mod.ts";
import type { UploadContext } from "../../store/upload_context.ts";
import { UploadRefused } from "../../store/upload_refused.ts";
import { readBody } from "./read_body.ts";
import { textResponse } from "./refusal.ts";
import type { AppRequest } from "../app.ts";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const BODY_MAX = 4 << 20;

/** Handles `PUT` and `DELETE /gcroots/<name>`; the caller has checked the token. */
export async function gcRootsRoute(
  ctx: UploadContext,
  req: AppRequest,
  path: string,
  now = Date.now(),
): Promise<Response> {
  const name = path.slice("/gcroots/".length);
  if (!NAME.test(name)) {
    throw new UploadRefused(
      "bad-request",
      `gcroots: invalid root name '${name.slice(0, 140)}': use up to 128 letters, digits, ` +
        `'.', '_' or '-', starting with a letter or digit`,
    );
  }
  if (req.method === "DELETE") {
    return (await removeRoot(ctx.meta, name))
      ? textResponse(200, `removed gc root ${name}`)
      : textResponse(404, `no gc root named ${name}`);
  }
  const expiresAt = expiryOf(req, now);
  const text = new TextDecoder().decode(await readBody(req, BODY_MAX, `gcroots/${name}`));
  const paths = parseRootPaths(text, ctx.storeDir, name);
  if (paths.length === 0) {
    throw new UploadRefused("bad-request", `gcroots/${name}: the body lists no store paths`);
  }
  const existed = (await listRoots(ctx.meta)).some((r) => r.name === name);
  await putRoot(ctx.meta, name, paths, expiresAt, ctx.storeDir, now);
  let missing = 0;
  for (const p of paths) {
    if (!(await ctx.store.getNarinfo(parseStorePath(p, ctx.storeDir).hashPart))) missing++;
  }
  const until = expiresAt === undefined ? "" : ` until ${new Date(expiresAt).toISOString()}`;
  const note = missing ? `; ${missing} not cached yet (kept once they are)` : "";
  return textResponse(
    existed ? 200 : 201,
    `gc root ${name}: ${paths.length} paths${until}${note}`,
  );
}

/** Store paths of a root body, as full paths; throws naming the first bad line. */
export function parseRootPaths(text: string, storeDir: string, name: string): string[] {
  const out: string[] = [];
  const lines = text.split("\n");
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "") continue;
    try {
      // A store path is at most ~260 characters; do not echo a huge line back.
      if (line.length > 1024) throw new RangeError("longer than 1024 characters");
      if (line.startsWith("/")) parseStorePath(line, storeDir);
      else parseStorePathBase(line);
    } catch (e) {
      throw new UploadRefused(
        "bad-request",
        `gcroots/${name}: line ${i + 1}: ${(e as Error).message}`,
      );
    }
    out.push(line.startsWith("/") ? line : `${storeDir}/${line}`);
  }
  return out;
}

/** `?expires=DUR` or `X-Arca-Expires: DUR`, as a time; undefined: never. */
function expiryOf(req: AppRequest, now: number): number | undefined {
  const q = new URL(req.url).searchParams.get("expires");
  const h = req.headers.get("x-arca-expires");
  if (q !== null && h !== null && q !== h) {
    throw new UploadRefused(
      "bad-request",
      "gcroots: the expires query and the X-Arca-Expires header disagree",
    );
  }
  const text = q ?? h;
  if (text === null) return undefined;
  try {
    const ms = parseDuration(text.trim());
    if (ms <= 0) throw new RangeError(`invalid duration '${text}': must be more than 0`);
    return now + ms;
  } catch (e) {
    throw new UploadRefused("bad-request", `gcroots: expires: ${(e as Error).message}`);
  }
}
