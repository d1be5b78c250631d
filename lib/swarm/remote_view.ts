/**
 * The narinfos this node serves for paths it knows only from peers: one per
 * store path, chosen among the live entries of every segment it is in. The
 * narinfo points at this node (`peer/<hash part>/<NarHash>.nar`,
 * uncompressed: it is streamed from peers, verified, see `peer_fetch.ts`),
 * so Nix never learns a peer's address; the signatures are the entry's.
 *
 * Only the choice is kept here (which entries back each path); the narinfo
 * bytes live in the server's index, the entries in the entry store.
 *
 * @module
 */
import { encodeNix32 } from "../encoding/mod.ts";
import { formatNarinfo, type NarInfo } from "../narinfo/mod.ts";
import type { Entry } from "./proto/entry.ts";
import type { Replica } from "./replica.ts";

/** The narinfo a remote entry is served as. */
export function remoteNarinfo(e: Entry): NarInfo {
  const narHash = { algo: "sha256" as const, digest: e.narHash };
  const info: NarInfo = {
    storePath: e.storePath,
    url: `peer/${hashPartOf(e)}/${encodeNix32(e.narHash)}.nar`,
    compression: "none",
    fileHash: narHash,
    fileSize: e.narSize,
    narHash,
    narSize: e.narSize,
    references: e.references,
    sigs: e.sigs,
  };
  if (e.deriver) info.deriver = e.deriver;
  if (e.ca) info.ca = e.ca;
  return info;
}

function hashPartOf(e: Entry): string {
  const base = e.storePath.slice(e.storePath.lastIndexOf("/") + 1);
  return base.slice(0, 32);
}

export class RemoteView {
  /** hashPart -> the entries that could back it, as [replica, key]; the first is served. */
  #backers = new Map<string, [Replica, string][]>();

  constructor(
    private storeDir: string,
    private emit: (hashPart: string, narinfo: string | undefined) => void,
  ) {}

  get size(): number {
    return this.#backers.size;
  }

  /** The live entries that back a path, served one first. */
  backers(hashPart: string): [Replica, string][] {
    return [...(this.#backers.get(hashPart) ?? [])];
  }

  /** A replica's entry became live or changed (`e`), or stopped being live (undefined). */
  update(replica: Replica, key: string, e: Entry | undefined): void {
    const hashPart = key.slice(0, 32);
    const list = this.#backers.get(hashPart) ?? [];
    const at = list.findIndex(([r, k]) => r === replica && k === key);
    if (e) {
      if (at < 0) list.push([replica, key]);
      this.#backers.set(hashPart, list);
      if (at <= 0 && list[0][0] === replica && list[0][1] === key) {
        this.emit(hashPart, formatNarinfo(remoteNarinfo(e), this.storeDir));
      }
      return;
    }
    if (at < 0) return;
    list.splice(at, 1);
    if (list.length === 0) {
      this.#backers.delete(hashPart);
      this.emit(hashPart, undefined);
    } else if (at === 0) void this.#reselect(hashPart);
  }

  /** The served entry went away: serve the next one (read from its store). */
  async #reselect(hashPart: string): Promise<void> {
    const list = this.#backers.get(hashPart);
    if (!list?.length) return;
    const [r, k] = list[0];
    const e = await r.entry(k).catch(() => undefined);
    if (this.#backers.get(hashPart)?.[0]?.[1] !== k) return; // changed meanwhile
    this.emit(hashPart, e ? formatNarinfo(remoteNarinfo(e), this.storeDir) : undefined);
  }
}
