/**
 * `arca verify` for the filesystem backend: every narinfo parses; every NAR
 * file a narinfo names exists, has its FileSize, hashes to its FileHash as
 * stored and, decompressed, to its NarHash and NarSize; every reference is
 * cached. With `repair`, broken NAR files are taken out of service with every
 * path that uses them (`quarantine`, which `FsStore` provides), then every
 * path whose reference went.
 */
import { createHash } from "node:crypto";
import { type Decompression, decompressStream } from "../compress/mod.ts";
import { encodeNix32 } from "../encoding/mod.ts";
import { formatHash } from "../hash/mod.ts";
import { type FsPath, type FsTarget, listFsPaths, referenceHashes } from "./_fs_paths.ts";
import { narinfoName } from "../store/flat_files.ts";
import type { VerifyOptions, VerifyReport } from "./verify_store.ts";

export async function verifyFsStore(
  t: FsTarget,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const report: VerifyReport = {
    paths: 0,
    narFiles: 0,
    chunks: 0,
    narBytes: 0,
    problems: [],
    removed: [],
  };
  const bad: string[] = [];
  const records = await listFsPaths(t.files, bad);
  report.paths = records.size;
  for (const b of bad) {
    report.problems.push({ kind: "nar", subject: b.slice(0, b.indexOf(":")), message: b });
  }
  const byFile = new Map<string, FsPath>();
  for (const p of records.values()) byFile.set(p.file, p);
  const broken = new Map<string, string>();
  for (const [file, p] of byFile) {
    report.narFiles++;
    const why = await checkNarFile(t, p, report);
    if (why) {
      broken.set(file, why);
      report.problems.push({ kind: "nar", subject: `nar/${file}`, message: why });
    }
  }
  for (const p of records.values()) {
    for (const h of referenceHashes(p)) {
      if (records.has(h)) continue;
      const ref = p.info.references.find((r) => r.startsWith(h));
      report.problems.push({
        kind: "reference",
        subject: p.info.storePath,
        message: `references ${ref}, which is not in the cache`,
      });
    }
  }
  if (opts.repair) {
    for (const [file, why] of broken) {
      report.removed.push(...(await opts.quarantine?.(file.slice(0, 52), `verify: ${why}`) ?? []));
    }
    report.removed.push(...await removeReferrers(t));
  }
  return report;
}

/** What is wrong with one NAR file, or undefined when it is intact. */
async function checkNarFile(
  t: FsTarget,
  p: FsPath,
  report: VerifyReport,
): Promise<string | undefined> {
  const { info } = p;
  let readable: ReadableStream<Uint8Array>;
  try {
    const st = await t.files.stat(`nar/${p.file}`);
    if (!st) return `it is missing (used by ${info.storePath})`;
    readable = await t.files.read(`nar/${p.file}`, 0, st.size);
  } catch (e) {
    return `it cannot be opened (${(e as Error).message}; used by ${info.storePath})`;
  }
  const stored = createHash("sha256");
  const plain = createHash("sha256");
  let fileSize = 0;
  let narSize = 0;
  try {
    const counted = readable.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          stored.update(chunk);
          fileSize += chunk.length;
          ctl.enqueue(chunk);
        },
      }),
    );
    const method = info.compression as Decompression;
    for await (const chunk of counted.pipeThrough(decompressStream(method))) {
      plain.update(chunk);
      narSize += chunk.length;
    }
  } catch (e) {
    await readable.cancel().catch(() => {});
    return `it does not decompress as ${info.compression}: ${(e as Error).message}`;
  }
  report.narBytes += narSize;
  if (info.fileSize !== undefined && fileSize !== info.fileSize) {
    return `it has ${fileSize} bytes, its narinfo says FileSize ${info.fileSize}`;
  }
  if (info.fileHash && encodeNix32(stored.digest()) !== encodeNix32(info.fileHash.digest)) {
    return `its bytes do not hash to its FileHash ${formatHash(info.fileHash)}`;
  }
  const narHash = `sha256:${encodeNix32(plain.digest())}`;
  if (narHash !== formatHash(info.narHash) || narSize !== info.narSize) {
    return `it decompresses to ${narHash} (${narSize} bytes), not ${
      formatHash(info.narHash)
    } (${info.narSize})`;
  }
  return undefined;
}

/** Deletes every narinfo whose reference is gone, until none is left. */
async function removeReferrers(t: FsTarget): Promise<string[]> {
  const out: string[] = [];
  for (let round = 0; round < 100; round++) {
    const have = await listFsPaths(t.files);
    let any = false;
    for (const p of have.values()) {
      const gone = referenceHashes(p).find((h) => !have.has(h));
      if (gone === undefined) continue;
      if (!(await t.files.remove([narinfoName(p.hashPart)])).length) continue;
      await t.meta.appendAudit([{
        type: "Quarantine",
        time: Date.now(),
        path: p.info.storePath,
        reason: `verify: its reference ${gone} was taken out of service`,
      }]);
      out.push(p.info.storePath);
      any = true;
    }
    if (!any) break;
  }
  return out;
}
