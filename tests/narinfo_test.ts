/**
 * narinfo and nix-cache-info: the PROTOCOL.md example and narinfos written by
 * a real `nix copy --to file://` are reproduced byte for byte; a table of
 * malformed narinfos is rejected line by line; random input never throws
 * anything but NarinfoError; parse(format(x)) is x.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { NIX32_ALPHABET } from "../lib/encoding/nix32.ts";
import type { Hash, HashAlgo } from "../lib/hash/hash.ts";
import {
  fingerprint,
  formatCacheInfo,
  formatNarinfo,
  type NarInfo,
  NarinfoError,
  parseCacheInfo,
  parseNarinfo,
} from "../lib/narinfo/mod.ts";
import { buildPath, nixEnv, runOk, tempDir } from "./_run.ts";

const EXAMPLE = `StorePath: /nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib
URL: nar/04h5kkfpnf8d41d2820mx57w734wn9inz236i9gb8zd4jbgp9x8b.nar.xz
Compression: xz
FileHash: sha256:04h5kkfpnf8d41d2820mx57w734wn9inz236i9gb8zd4jbgp9x8b
FileSize: 440
NarHash: sha256:0qklgqgr2wj2v6iihmyflaql1w16gfqn3k4cxdblankzmljm90y5
NarSize: 2592
References: 149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib
Deriver: r55fg6s3ixbkygi1id7p8qmk862h2y1g-spike-lib.drv
Sig: spike-cache-1:Hv/3l55eRZZRKWRDhN3EQ5cNxxB8dW9hkOu7aDyKFJqeM0u484B1Wt2WYOSS+2uQVghynSqInvTfuUx9mM5EAA==
`;

Deno.test("narinfo: the PROTOCOL.md example parses and prints back identically", () => {
  const info = parseNarinfo(EXAMPLE);
  assert.equal(info.storePath, "/nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib");
  assert.equal(info.compression, "xz");
  assert.equal(info.fileSize, 440);
  assert.equal(info.narSize, 2592);
  assert.equal(info.narHash.algo, "sha256");
  assert.deepEqual(info.references, ["149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib"]);
  assert.equal(info.deriver, "r55fg6s3ixbkygi1id7p8qmk862h2y1g-spike-lib.drv");
  assert.equal(info.sigs.length, 1);
  assert.equal(info.ca, undefined);
  assert.equal(formatNarinfo(info), EXAMPLE);
  assert.equal(
    fingerprint(info),
    "1;/nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib;" +
      "sha256:0qklgqgr2wj2v6iihmyflaql1w16gfqn3k4cxdblankzmljm90y5;2592;" +
      "/nix/store/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib",
  );
});

Deno.test("narinfo: Nix's defaults and tolerances", () => {
  const minimal = lines(EXAMPLE, (l) => /^(StorePath|URL|NarHash|NarSize):/.test(l));
  const info = parseNarinfo(minimal);
  assert.equal(info.compression, "bzip2"); // no Compression line means bzip2
  assert.deepEqual(info.references, []);
  assert.deepEqual(info.sigs, []);
  assert.equal(formatNarinfo(info).includes("\nCompression: bzip2\nNarHash"), true);
  assert.equal(formatNarinfo(info).includes("\nReferences: \n"), true);
  // Unknown keys are ignored; unknown-deriver means none; base16 and SRI hashes are accepted.
  const odd = EXAMPLE.replace(
    "Deriver: r55fg6s3ixbkygi1id7p8qmk862h2y1g-spike-lib.drv",
    "Deriver: unknown-deriver",
  )
    .replace(
      "NarHash: sha256:0qklgqgr2wj2v6iihmyflaql1w16gfqn3k4cxdblankzmljm90y5",
      "NarHash: " +
        "sha256-" + btoa(String.fromCharCode(...parseNarinfo(EXAMPLE).narHash.digest)),
    ) +
    "System: x86_64-linux\nFuture: 1\n";
  const i2 = parseNarinfo(odd);
  assert.equal(i2.deriver, undefined);
  assert.deepEqual(i2.narHash, parseNarinfo(EXAMPLE).narHash);
  // Several Sig lines are kept in order; CA is kept.
  const multi = EXAMPLE + "Sig: other-1:" + "A".repeat(86) + "==\nCA: fixed:r:sha256:" +
    "0".repeat(52) + "\n";
  const i3 = parseNarinfo(multi);
  assert.equal(i3.sigs.length, 2);
  assert.equal(i3.ca, "fixed:r:sha256:" + "0".repeat(52));
  assert.equal(formatNarinfo(i3), multi);
});

/** Keeps the lines of `text` that pass `keep`. */
function lines(text: string, keep: (l: string) => boolean): string {
  return text.split("\n").filter((l) => l !== "" && keep(l)).map((l) => l + "\n").join("");
}

const REF = "149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike-lib";
const BAD: [string, string, RegExp][] = [
  [
    "missing StorePath",
    lines(EXAMPLE, (l) => !l.startsWith("StorePath")),
    /missing field "StorePath"/,
  ],
  ["missing URL", lines(EXAMPLE, (l) => !l.startsWith("URL")), /missing field "URL"/],
  ["missing NarHash", lines(EXAMPLE, (l) => !l.startsWith("NarHash")), /missing field "NarHash"/],
  ["missing NarSize", lines(EXAMPLE, (l) => !l.startsWith("NarSize")), /missing field "NarSize"/],
  [
    "bad NarHash",
    EXAMPLE.replace("NarHash: sha256:0q", "NarHash: sha256:eq"),
    /line 6: bad NarHash: .*unexpected character 'e'/,
  ],
  [
    "short NarHash",
    EXAMPLE.replace("NarHash: sha256:0q", "NarHash: sha256:"),
    /line 6: bad NarHash: .*not 50/,
  ],
  [
    "NarHash without algo",
    EXAMPLE.replace("NarHash: sha256:", "NarHash: "),
    /line 6: bad NarHash: .*missing algorithm/,
  ],
  [
    "bad FileHash",
    EXAMPLE.replace("FileHash: sha256:", "FileHash: sha255:"),
    /line 4: bad FileHash: .*unknown algorithm 'sha255'/,
  ],
  ["CRLF", EXAMPLE.replaceAll("\n", "\r\n"), /line 1: carriage return \(CRLF/],
  ["CR inside", EXAMPLE.replace("URL: nar/", "URL: n\rar/"), /line 2: carriage return/],
  ["NarSize 0", EXAMPLE.replace("NarSize: 2592", "NarSize: 0"), /line 7: NarSize is zero/],
  [
    "NarSize not a number",
    EXAMPLE.replace("NarSize: 2592", "NarSize: 12x"),
    /line 7: NarSize is not a number: "12x"/,
  ],
  [
    "NarSize negative",
    EXAMPLE.replace("NarSize: 2592", "NarSize: -1"),
    /line 7: NarSize is not a number: "-1"/,
  ],
  [
    "NarSize huge",
    EXAMPLE.replace("NarSize: 2592", "NarSize: 99999999999999999999"),
    /line 7: NarSize is too large/,
  ],
  [
    "FileSize empty",
    EXAMPLE.replace("FileSize: 440", "FileSize: "),
    /line 5: FileSize is not a number: ""/,
  ],
  [
    "bad reference",
    EXAMPLE.replace(`References: ${REF}`, `References: ${REF} foo`),
    /line 8: bad reference: .*'foo': too short/,
  ],
  [
    "full path as reference",
    EXAMPLE.replace(`References: ${REF}`, `References: /nix/store/${REF}`),
    /line 8: bad reference: .*hash part/,
  ],
  [
    "duplicate key",
    EXAMPLE.replace("Compression: xz\n", "Compression: xz\nCompression: zstd\n"),
    /line 4: duplicate Compression \(first on line 3\)/,
  ],
  [
    "two CA",
    EXAMPLE + "CA: fixed:sha256:x\nCA: text:sha256:y\n",
    /line 12: duplicate CA \(first on line 11\)/,
  ],
  ["bad CA", EXAMPLE + "CA: sha256:x\n", /line 11: CA must start with "text:" or "fixed:"/],
  [
    "line without separator",
    EXAMPLE.replace("Compression: xz", "Compression xz"),
    /line 3: missing ": " separator/,
  ],
  [
    "colon without space",
    EXAMPLE.replace("Compression: xz", "Compression:xz"),
    /line 3: missing space after ":"/,
  ],
  ["empty line", EXAMPLE.replace("URL:", "\nURL:"), /line 2: missing ": " separator/],
  ["empty key", ": x\n" + EXAMPLE, /line 1: empty key/],
  [
    "bad store path",
    EXAMPLE.replace("StorePath: /nix/store/", "StorePath: /nix/stor/"),
    /line 1: bad StorePath: .*not in the store directory/,
  ],
  [
    "store path bad name",
    EXAMPLE.replace("spike-lib\nURL", "spike lib\nURL"),
    /line 1: bad StorePath: .*'\/nix\/store\/149l973n7cyj6mxqljgs8vbbn7q2jm7s-spike lib': illegal character " "/,
  ],
  [
    "bad deriver",
    EXAMPLE.replace(
      "Deriver: r55fg6s3ixbkygi1id7p8qmk862h2y1g-spike-lib.drv",
      "Deriver: spike-lib.drv",
    ),
    /line 9: bad Deriver: .*too short/,
  ],
  [
    "deriver hash",
    EXAMPLE.replace("Deriver: r55", "Deriver: e55"),
    /line 9: bad Deriver: .*hash part/,
  ],
  ["empty URL", EXAMPLE.replace(/URL: .*\n/, "URL: \n"), /line 2: empty URL/],
  ["empty Sig", EXAMPLE + "Sig: \n", /line 11: empty Sig/],
  ["no trailing newline", EXAMPLE.slice(0, -1), /line 10: missing newline at the end/],
  ["empty", "", /empty input/],
];

Deno.test(`narinfo: ${BAD.length} malformed narinfos are each rejected with their own message`, () => {
  const messages = new Set<string>();
  for (const [what, text, re] of BAD) {
    assert.throws(
      () => parseNarinfo(text),
      (e: unknown) => {
        assert.ok(e instanceof NarinfoError && e instanceof SyntaxError, `${what}: ${e}`);
        assert.match(e.message, /^Cannot parse narinfo: /, what);
        assert.match(e.message, re, what);
        messages.add(e.message);
        return true;
      },
      what,
    );
  }
  assert.equal(
    messages.size,
    BAD.length,
    `every case has a distinct message: ${[...messages].join("\n")}`,
  );
});

Deno.test("narinfo: random text and mutated narinfos throw only NarinfoError", () => {
  const mutated = fc.tuple(fc.nat(EXAMPLE.length), fc.nat(20), fc.string({ maxLength: 8 })).map(
    ([at, del, ins]) => EXAMPLE.slice(0, at) + ins + EXAMPLE.slice(at + del),
  );
  const keyish = fc.array(
    fc.tuple(
      fc.constantFrom(
        "StorePath",
        "URL",
        "NarHash",
        "NarSize",
        "References",
        "Deriver",
        "Sig",
        "CA",
        "FileHash",
        "FileSize",
        "X",
      ),
      fc.string({ maxLength: 60 }),
    ).map(([k, v]) => `${k}: ${v}\n`),
    { maxLength: 12 },
  ).map((ls) => ls.join(""));
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 400 }), mutated, keyish), (text) => {
      try {
        const info = parseNarinfo(text);
        // Whatever parses must print and parse back to itself.
        assert.deepEqual(parseNarinfo(formatNarinfo(info)), info);
      } catch (e) {
        assert.ok(e instanceof NarinfoError, String(e));
      }
    }),
    { numRuns: 5000 },
  );
});

const arbBase = fc.tuple(
  fc.array(fc.constantFrom(...NIX32_ALPHABET.split("")), { minLength: 32, maxLength: 32 }),
  fc.stringMatching(/^[a-zA-Z0-9+_?=][a-zA-Z0-9+\-._?=]{0,40}$/),
).map(([h, n]) => `${h.join("")}-${n}`);
const arbSha: fc.Arbitrary<Hash> = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((d) => ({
  algo: "sha256" as HashAlgo,
  digest: d,
}));
const arbValue = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[\r\n]/.test(s));
const arbNarinfo: fc.Arbitrary<NarInfo> = fc.record({
  storePath: arbBase.map((b) => `/nix/store/${b}`),
  url: arbValue,
  compression: arbValue,
  fileHash: arbSha,
  fileSize: fc.nat(),
  narHash: arbSha,
  narSize: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  references: fc.array(arbBase, { maxLength: 5 }),
  deriver: arbBase,
  sigs: fc.array(arbValue, { maxLength: 3 }),
  ca: arbValue.map((v) => `fixed:${v}`),
}, {
  requiredKeys: ["storePath", "url", "compression", "narHash", "narSize", "references", "sigs"],
});

Deno.test("narinfo: parse(format(x)) is x", () => {
  fc.assert(
    fc.property(arbNarinfo.map((r) => ({ ...r })), (info) => {
      assert.deepEqual(parseNarinfo(formatNarinfo(info)), info);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("narinfo: format refuses values that would break the line format", () => {
  const info = parseNarinfo(EXAMPLE);
  assert.throws(
    () => formatNarinfo({ ...info, url: "a\nNarSize: 1" }),
    /URL contains a line break/,
  );
  assert.throws(() => formatNarinfo({ ...info, sigs: ["x\r"] }), /Sig contains a line break/);
  assert.throws(() => formatNarinfo(info, "/gnu/store"), /is not in '\/gnu\/store'/);
});

Deno.test("narinfo: fingerprint sorts and dedups references, and needs sha256", () => {
  const a = "00000000000000000000000000000000-a";
  const b = "11111111111111111111111111111111-b";
  const info = { ...parseNarinfo(EXAMPLE), references: [b, a, b] };
  assert.match(fingerprint(info), new RegExp(`;2592;/nix/store/${a},/nix/store/${b}$`));
  assert.match(fingerprint({ ...info, references: [] }), /;2592;$/);
  assert.throws(
    () => fingerprint({ ...info, narHash: { algo: "md5", digest: new Uint8Array(16) } }),
    RangeError,
  );
  assert.throws(() => fingerprint({ ...info, narSize: 0 }), RangeError);
});

Deno.test("nix-cache-info: format, parse, Nix defaults", () => {
  const ci = { storeDir: "/nix/store", wantMassQuery: true, priority: 30 };
  assert.equal(formatCacheInfo(ci), "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n");
  assert.deepEqual(parseCacheInfo(formatCacheInfo(ci)), ci);
  assert.deepEqual(parseCacheInfo("StoreDir: /nix/store\n"), {
    storeDir: "/nix/store",
    wantMassQuery: false,
    priority: 50,
  });
  assert.deepEqual(parseCacheInfo("Priority:  -3 \r\njunk\nWantMassQuery: 1"), {
    storeDir: "/nix/store",
    wantMassQuery: true,
    priority: -3,
  });
  assert.throws(
    () => parseCacheInfo("StoreDir: /s\nPriority: high\n"),
    /line 2: Priority is not an integer: "high"/,
  );
});

Deno.test("narinfo: what `nix copy --to file://` and `nix store sign` write is reproduced byte for byte", async () => {
  const env = await nixEnv();
  const dep = await buildPath("ni-dep", "echo dep > $out", env);
  const top = await buildPath(
    "ni-top",
    "mkdir $out; echo $dep > $out/d; echo $out > $out/self",
    env,
    {
      deps: { dep },
    },
  );
  const dir = await tempDir();
  try {
    await runOk("nix", ["copy", "--to", `file://${dir.path}`, top], { env });
    const keys = await tempDir();
    await runOk("nix-store", [
      "--generate-binary-cache-key",
      "ni-test-1",
      `${keys.path}/sk`,
      `${keys.path}/pk`,
    ], { env });
    const texts: string[] = [];
    for (const p of [top, dep]) {
      texts.push(await Deno.readTextFile(`${dir.path}/${p.slice(11, 43)}.narinfo`));
    }
    await runOk("nix", [
      "store",
      "sign",
      "--key-file",
      `${keys.path}/sk`,
      "--store",
      `file://${dir.path}`,
      top,
    ], { env });
    texts.push(await Deno.readTextFile(`${dir.path}/${top.slice(11, 43)}.narinfo`));
    await keys.cleanup();
    const [topText, depText, signedText] = texts;
    for (const text of texts) assert.equal(formatNarinfo(parseNarinfo(text)), text);
    const t = parseNarinfo(topText);
    assert.equal(t.storePath, top);
    assert.deepEqual(t.references.toSorted(), [dep.slice(11), top.slice(11)].toSorted());
    assert.equal(t.compression, "xz");
    assert.match(t.deriver ?? "", /-ni-top\.drv$/);
    // The NarHash Nix wrote is the one its store reports.
    const q = (await runOk("nix-store", ["-q", "--hash", top], { env })).trim();
    assert.equal(formatNarinfo(t).includes(`NarHash: ${q}\n`), true);
    assert.deepEqual(parseNarinfo(depText).references, []);
    assert.equal(parseNarinfo(signedText).sigs.length, 1);
    const ci = parseCacheInfo(await Deno.readTextFile(`${dir.path}/nix-cache-info`));
    assert.equal(ci.storeDir, "/nix/store");
  } finally {
    await dir.cleanup();
  }
});
