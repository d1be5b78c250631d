/**
 * Helpers for upload tests that speak the write protocol themselves: a NAR
 * from the real Nix (`nix-store --dump`), the narinfo Nix would PUT for it,
 * and a PUT with a token.
 */
import { createHash } from "node:crypto";
import { encodeNix32 } from "../lib/encoding/mod.ts";
import { formatNarinfo, type NarInfo } from "../lib/narinfo/mod.ts";
import { type SecretKey, signNarinfo } from "../lib/sign/mod.ts";
import { run } from "./_run.ts";

export interface PushNar {
  bytes: Uint8Array<ArrayBuffer>;
  /** nix32 sha256 of the bytes: the file name Nix would use (compression none). */
  fileHash32: string;
  narHash32: string;
}

export function nar(bytes: Uint8Array<ArrayBuffer>): PushNar {
  const h = encodeNix32(new Uint8Array(createHash("sha256").update(bytes).digest()));
  return { bytes, fileHash32: h, narHash32: h };
}

export async function dumpPath(path: string, env: Record<string, string>): Promise<PushNar> {
  const child = new Deno.Command("nix-store", { args: ["--dump", path], env, stdout: "piped" });
  const out = await child.output();
  if (out.code !== 0) throw new Error(`nix-store --dump ${path} failed`);
  return nar(out.stdout);
}

/** The narinfo for `storePath` with this NAR (uncompressed), optionally signed. */
export function narinfoFor(
  storePath: string,
  n: PushNar,
  references: string[],
  key?: SecretKey,
  override: Partial<NarInfo> = {},
): string {
  let info: NarInfo = {
    storePath,
    url: `nar/${n.fileHash32}.nar`,
    compression: "none",
    narHash: { algo: "sha256", digest: createHash("sha256").update(n.bytes).digest() },
    narSize: n.bytes.length,
    references,
    sigs: [],
    ...override,
  };
  if (key) info = signNarinfo(info, key);
  return formatNarinfo(info);
}

export async function put(
  url: string,
  path: string,
  body: Uint8Array<ArrayBuffer> | string,
  token?: string,
): Promise<{ status: number; text: string; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Basic ${btoa(`nix:${token}`)}`;
  const res = await fetch(`${url}${path}`, { method: "PUT", body, headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** `arca status --json` and `arca list --json`, to compare before and after. */
export async function snapshot(
  arca: (args: string[], o: { env: Record<string, string> }) => ReturnType<typeof run>,
  env: Record<string, string>,
): Promise<string> {
  const s = await arca(["status", "--json"], { env });
  const l = await arca(["list", "--json"], { env });
  if (s.code !== 0 || l.code !== 0) throw new Error(`${s.stderr}${l.stderr}`);
  return `${s.stdout}\n${l.stdout}`;
}
