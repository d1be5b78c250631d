/**
 * Swarm segments as `config.toml` writes them: `[[segments]]` tables.
 *
 * ```toml
 * [[segments]]
 * name = "team"
 * topic_key = "<64 hex characters from 'arca keygen'>"
 * description = "our CI builds"
 * filter = "custom"            # nixpkgs | custom | all
 * trusted_public_keys = ["ci-1:…"]
 * ```
 *
 * Checked field by field so that a mistake is reported at its own line.
 *
 * @module
 */

/** Which locally cached paths a segment takes when no `--segment` was given. */
export type SegmentFilter = "nixpkgs" | "custom" | "all";

/** One swarm segment: peers that share its topic key replicate its paths. */
export interface Segment {
  name: string;
  /** 64 lowercase hex characters (256 bits); only hashes of it go on the wire. */
  topic_key: string;
  description: string;
  filter: SegmentFilter;
  /**
   * Keys whose signatures make a replicated narinfo acceptable here; empty
   * means the public halves of this node's own signing keys.
   */
  trusted_public_keys: string[];
}

/** A bad field of one `[[segments]]` table: `index` is 0-based, `field` undefined for the table. */
export class SegmentFieldError extends Error {
  override name = "SegmentFieldError";
  constructor(readonly index: number, readonly field: string | undefined, detail: string) {
    super(
      field === undefined
        ? `segment ${index + 1}: ${detail}`
        : `"segments[${index}].${field}" ${detail}`,
    );
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const TOPIC_KEY = /^[0-9a-f]{64}$/;
export const PUBLIC_KEY = /^[^:\s]+:[A-Za-z0-9+/]{43}=$/;
const FIELDS = ["name", "topic_key", "description", "filter", "trusted_public_keys"];
const FILTERS: SegmentFilter[] = ["nixpkgs", "custom", "all"];

/**
 * Validates a value as a list of segments; throws `SegmentFieldError`.
 *
 * @example
 * ```ts
 * import { checkSegments } from "./segments.ts";
 * import assert from "node:assert/strict";
 * const [s] = checkSegments([{ name: "team", topic_key: "ab".repeat(32) }]);
 * assert.equal(s.filter, "custom");
 * assert.throws(() => checkSegments([{ name: "team", topic_key: "xyz" }]), /topic_key/);
 * ```
 */
export function checkSegments(v: unknown): Segment[] {
  if (!Array.isArray(v)) {
    throw new SegmentFieldError(0, undefined, "segments must be an array of tables [[segments]]");
  }
  const out: Segment[] = [];
  const names = new Set<string>();
  const keys = new Set<string>();
  v.forEach((t, i) => {
    if (t === null || typeof t !== "object" || Array.isArray(t) || t instanceof Date) {
      throw new SegmentFieldError(i, undefined, "must be a table with name and topic_key");
    }
    const table = t as Record<string, unknown>;
    for (const k of Object.keys(table)) {
      if (!FIELDS.includes(k)) {
        throw new SegmentFieldError(i, k, `is not a segment field (known: ${FIELDS.join(", ")})`);
      }
    }
    const name = table.name;
    if (typeof name !== "string" || !NAME.test(name)) {
      throw new SegmentFieldError(
        i,
        "name",
        "must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit",
      );
    }
    if (names.has(name)) throw new SegmentFieldError(i, "name", `repeats segment "${name}"`);
    const key = table.topic_key;
    if (typeof key !== "string" || !TOPIC_KEY.test(key)) {
      throw new SegmentFieldError(
        i,
        "topic_key",
        "must be 64 lowercase hex characters (make one with 'arca keygen')",
      );
    }
    if (keys.has(key)) {
      throw new SegmentFieldError(i, "topic_key", "is the topic key of another segment");
    }
    const description = table.description ?? "";
    if (typeof description !== "string") {
      throw new SegmentFieldError(i, "description", "must be a string");
    }
    const filter = table.filter ?? "custom";
    if (!FILTERS.includes(filter as SegmentFilter)) {
      throw new SegmentFieldError(i, "filter", `must be one of ${FILTERS.join(", ")}`);
    }
    const trusted = table.trusted_public_keys ?? [];
    if (
      !Array.isArray(trusted) ||
      !trusted.every((k) => typeof k === "string" && PUBLIC_KEY.test(k))
    ) {
      throw new SegmentFieldError(
        i,
        "trusted_public_keys",
        'must be an array of public keys "name:base64"',
      );
    }
    names.add(name);
    keys.add(key);
    out.push({
      name,
      topic_key: key,
      description,
      filter: filter as SegmentFilter,
      trusted_public_keys: [...trusted],
    });
  });
  return out;
}

/** The public key Nix trusts for cache.nixos.org: what makes a path "nixpkgs". */
export const NIXPKGS_KEY = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

/**
 * The well-known topic key of the universal segment: anyone may join it, so
 * it only carries paths signed by the nixpkgs keys. It is the SHA-256 of the
 * text "arca universal segment, version 1", written out so it is the same
 * everywhere.
 */
export const UNIVERSAL_TOPIC_KEY =
  "9f1d354623b07f3988a0022600e94c828a1ddfc04f72d57e58e0316e1d75755b";

export const UNIVERSAL_SEGMENT: Readonly<Segment> = Object.freeze({
  name: "universal",
  topic_key: UNIVERSAL_TOPIC_KEY,
  description: "paths from cache.nixos.org, shared with every Arca node that can reach this one",
  filter: "nixpkgs",
  trusted_public_keys: Object.freeze([NIXPKGS_KEY]) as unknown as string[],
});
