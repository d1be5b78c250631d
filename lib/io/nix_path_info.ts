/**
 * Asks the local Nix what it knows about store paths (`nix path-info
 * --json`): NarHash, size, references, deriver, signatures, CA. Arca trusts
 * this only as a claim: the import recomputes the NarHash and refuses a
 * mismatch.
 */
import { parseHash } from "../hash/mod.ts";
import type { PathMeta } from "../narinfo/path_meta.ts";

interface RawInfo {
  path: string;
  valid?: boolean;
  narHash?: string;
  narSize?: number;
  references?: string[];
  deriver?: string;
  signatures?: string[];
  ca?: string;
}

/**
 * Path info for `paths` (store paths, or symlinks to them such as `./result`);
 * with `closure`, for everything they reference too. Throws naming the
 * paths that are not valid in the local store.
 */
export async function nixPathInfo(paths: string[], closure = false): Promise<PathMeta[]> {
  if (paths.length === 0) return [];
  const args = ["--extra-experimental-features", "nix-command", "path-info", "--json"];
  if (closure) args.push("-r");
  const out = await new Deno.Command("nix", {
    args: [...args, "--", ...paths],
    stdout: "piped",
    stderr: "piped",
  })
    .output()
    .catch((e) => {
      throw new Error(`cannot run 'nix': ${(e as Error).message} (is Nix installed?)`);
    });
  const stderr = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) {
    throw new Error(`nix path-info failed: ${stderr.split("\n").slice(-3).join(" ")}`);
  }
  const raw = JSON.parse(new TextDecoder().decode(out.stdout)) as RawInfo[];
  const invalid = raw.filter((r) => r.valid === false).map((r) => r.path);
  if (invalid.length) throw new Error(`not valid in the local Nix store: ${invalid.join(", ")}`);
  return raw.map((r) => ({
    storePath: r.path,
    narHash: parseHash(r.narHash!),
    narSize: r.narSize!,
    references: (r.references ?? []).map(base),
    deriver: r.deriver ? base(r.deriver) : undefined,
    sigs: r.signatures ?? [],
    ca: r.ca,
  }));
}

/** Orders paths so that every path comes after the paths it references. */
export function referencesFirst(infos: PathMeta[]): PathMeta[] {
  const byBase = new Map(infos.map((i) => [base(i.storePath), i]));
  const done = new Set<string>();
  const out: PathMeta[] = [];
  const visit = (b: string, stack: Set<string>) => {
    if (done.has(b) || stack.has(b)) return;
    const info = byBase.get(b);
    if (!info) return;
    stack.add(b);
    for (const r of info.references) if (r !== b) visit(r, stack);
    stack.delete(b);
    done.add(b);
    out.push(info);
  };
  for (const b of [...byBase.keys()].sort()) visit(b, new Set());
  return out;
}

function base(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}
