/**
 * The Noise handshake that opens a peer link: `Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s`.
 *
 * ```
 * I -> R   e, [version, topic id]            which segment's PSK to use
 * R -> I   e, ee, s, es                      R's static key (I checks it is the announced one)
 * I -> R   s, se, psk                        I's static key; only a member can finish it
 * R -> I   first transport message (hello)   only a member can make it
 * ```
 * The PSK is derived from the segment's topic key, so completing the
 * handshake proves membership on both sides, and a non-member learns no
 * more than a node's public key. The prologue binds protocol name and
 * version. Everything after is framed by `frame_io.ts`.
 *
 * @module
 */
import { CipherState, HandshakeState, type KeyPair, NoiseError } from "./noise/mod.ts";
import { encodeHex } from "../encoding/mod.ts";
import { frame, type FrameReader, writeAll } from "./frame_io.ts";
import { compareBytes } from "./proto/entry.ts";
import type { SegmentRuntime } from "./segment_runtime.ts";

export const NOISE_PROTOCOL = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s";
export const PROLOGUE = new TextEncoder().encode("arca swarm link, protocol 1");
const VERSION = 1;
export const HANDSHAKE_TIMEOUT_MS = 5_000;

export type HandshakeFailure =
  | "unknown segment"
  | "key differs from announce"
  | "not a member"
  | "bad message"
  | "closed"
  | "timeout"
  | "self";

export class HandshakeError extends Error {
  override name = "HandshakeError";
  constructor(readonly reason: HandshakeFailure, detail: string) {
    super(detail);
  }
}

/** A finished handshake: who the peer is, and the session's ciphers. */
export interface Session {
  remoteKey: Uint8Array;
  /** `h` at the end: binds the per-link proofs of further segments to this session. */
  handshakeHash: Uint8Array;
  send: CipherState;
  receive: CipherState;
  /** The segment the PSK proved. */
  segment: SegmentRuntime;
  initiator: boolean;
}

export interface Conn {
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

async function withTimeout<T>(conn: Conn, ms: number, f: () => Promise<T>): Promise<T> {
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  }, ms);
  try {
    return await f();
  } catch (e) {
    if (timedOut) throw new HandshakeError("timeout", `no handshake within ${ms} ms`);
    throw e;
  } finally {
    clearTimeout(t);
  }
}

async function readFrame(reader: FrameReader, what: string): Promise<Uint8Array> {
  let f: { flag: number; body: Uint8Array } | undefined;
  try {
    f = await reader.next();
  } catch (e) {
    if (e instanceof HandshakeError) throw e;
    throw new HandshakeError("closed", `connection failed while waiting for ${what}`);
  }
  if (!f) throw new HandshakeError("closed", `connection closed before ${what}`);
  if (f.flag !== 0) throw new HandshakeError("bad message", `${what} is not a handshake frame`);
  return f.body.slice();
}

function noise<T>(what: string, reason: HandshakeFailure, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof NoiseError) throw new HandshakeError(reason, `${what}: ${e.message}`);
    throw e;
  }
}

function split(hs: HandshakeState, segment: SegmentRuntime, initiator: boolean): Session {
  const { send, receive } = hs.split();
  return {
    remoteKey: hs.remoteStaticKey!,
    handshakeHash: hs.handshakeHash,
    send,
    receive,
    segment,
    initiator,
  };
}

/**
 * Dials side. `expectKey` is the static key the peer announced (or another
 * peer vouched for); the handshake stops before proving membership if the
 * peer's key is a different one.
 */
export function initiate(
  conn: Conn,
  reader: FrameReader,
  opts: {
    staticKey: KeyPair;
    segment: SegmentRuntime;
    expectKey?: Uint8Array;
    timeoutMs?: number;
  },
): Promise<Session> {
  return withTimeout(conn, opts.timeoutMs ?? HANDSHAKE_TIMEOUT_MS, async () => {
    const hs = new HandshakeState({
      protocolName: NOISE_PROTOCOL,
      initiator: true,
      prologue: PROLOGUE,
      staticKey: opts.staticKey,
      psks: [opts.segment.keys.psk],
    });
    const hello = new Uint8Array(17);
    hello[0] = VERSION;
    hello.set(opts.segment.keys.id, 1);
    await writeAll(conn, frame(hs.writeMessage(hello)));
    const m2 = await readFrame(
      reader,
      `the peer's reply (is it in segment ${opts.segment.name}?)`,
    );
    noise("reading the reply", "bad message", () => hs.readMessage(m2));
    const rs = hs.remoteStaticKey!;
    if (compareBytes(rs, opts.staticKey.publicKey) === 0) {
      throw new HandshakeError("self", "dialled this node itself");
    }
    if (opts.expectKey && compareBytes(rs, opts.expectKey) !== 0) {
      throw new HandshakeError(
        "key differs from announce",
        `the peer's static key ${encodeHex(rs.subarray(0, 8))}… is not the announced ${
          encodeHex(opts.expectKey.subarray(0, 8))
        }…`,
      );
    }
    await writeAll(conn, frame(hs.writeMessage(new Uint8Array(0))));
    return split(hs, opts.segment, true);
  });
}

/**
 * Listening side: the first message names a segment by its topic id; a
 * segment this node is not in ends the connection at once.
 */
export function respond(
  conn: Conn,
  reader: FrameReader,
  opts: {
    staticKey: KeyPair;
    segments: SegmentRuntime[];
    timeoutMs?: number;
  },
): Promise<Session> {
  return withTimeout(conn, opts.timeoutMs ?? HANDSHAKE_TIMEOUT_MS, async () => {
    const m1 = await readFrame(reader, "the first handshake message");
    const make = (psk: Uint8Array) =>
      new HandshakeState({
        protocolName: NOISE_PROTOCOL,
        initiator: false,
        prologue: PROLOGUE,
        staticKey: opts.staticKey,
        psks: [psk],
      });
    // The first payload is encrypted with a key any party can derive (the PSK
    // comes in only at the third message): read it once to learn the segment,
    // then start over with that segment's PSK.
    const first = noise(
      "reading the first message",
      "bad message",
      () => make(new Uint8Array(32)).readMessage(m1),
    );
    if (first.length !== 17 || first[0] !== VERSION) {
      throw new HandshakeError("bad message", "the first handshake message is not Arca's");
    }
    const id = first.subarray(1);
    const segment = opts.segments.find((s) => compareBytes(s.keys.id, id) === 0);
    if (!segment) {
      throw new HandshakeError("unknown segment", `asked for segment ${encodeHex(id)}, not ours`);
    }
    const hs = make(segment.keys.psk);
    hs.readMessage(m1);
    await writeAll(conn, frame(hs.writeMessage(new Uint8Array(0))));
    const m3 = await readFrame(reader, "the third handshake message");
    noise(
      `proof of membership of segment ${segment.name}`,
      "not a member",
      () => hs.readMessage(m3),
    );
    if (compareBytes(hs.remoteStaticKey!, opts.staticKey.publicKey) === 0) {
      throw new HandshakeError("self", "connected to this node itself");
    }
    return split(hs, segment, false);
  });
}
