/**
 * A HandshakeState (spec section 5.3) for the patterns `parseProtocolName` accepts (XX with psk
 * modifiers; no pre-messages). One instance per side and per handshake: write and read the
 * messages in turn, then `split()` once for the transport CipherStates.
 *
 * Any failure while processing a message (a tag that does not verify, a truncated message, an
 * invalid peer key) leaves the state failed: every later call throws, because `h` and `ck` may
 * have absorbed part of the bad message.
 */
import type { CipherState } from "./cipher_state.ts";
import { DH_LEN, MAX_NOISE_MESSAGE, PSK_LEN, TAG_LEN } from "./limits.ts";
import { NoiseError } from "./noise_error.ts";
import { parseProtocolName, type Protocol, type Token } from "./protocol_name.ts";
import { SymmetricState } from "./symmetric_state.ts";
import { dh, generateKeyPair, type KeyPair, keyPairFromPrivate } from "./x25519.ts";

/** How to start one side of a handshake. */
export interface HandshakeOptions {
  /** The full protocol name, e.g. "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s". */
  protocolName: string;
  initiator: boolean;
  /** Bytes both sides must agree on (mixed into h; a mismatch fails the handshake). */
  prologue: Uint8Array;
  staticKey: KeyPair;
  /** A fixed ephemeral key, for test vectors only; otherwise one is generated. */
  ephemeralKey?: KeyPair;
  /** 32-byte PSKs, one per `psk` token, consumed in token order. */
  psks?: Uint8Array[];
}

/** The transport CipherStates of one side. */
export interface TransportCiphers {
  send: CipherState;
  receive: CipherState;
}

export class HandshakeState {
  readonly #protocol: Protocol;
  readonly #initiator: boolean;
  readonly #s: KeyPair;
  readonly #psks: Uint8Array[];
  readonly #symmetric: SymmetricState;
  #fixedEphemeral: KeyPair | undefined;
  #e: KeyPair | undefined;
  #re: Uint8Array | undefined;
  #rs: Uint8Array | undefined;
  #next = 0; // index of the next message pattern
  #pskIndex = 0;
  #failed: NoiseError | undefined;
  #splitDone = false;

  /** Initialize(): throws NoiseError for an unsupported name or bad keys or PSKs. */
  constructor(opts: HandshakeOptions) {
    this.#protocol = parseProtocolName(opts.protocolName);
    this.#initiator = opts.initiator;
    this.#s = checkedKeyPair(opts.staticKey, "staticKey");
    this.#fixedEphemeral = opts.ephemeralKey && checkedKeyPair(opts.ephemeralKey, "ephemeralKey");
    const psks = opts.psks ?? [];
    if (psks.length !== this.#protocol.pskCount) {
      throw new NoiseError(
        `${opts.protocolName} needs ${this.#protocol.pskCount} PSK(s), got ${psks.length}`,
      );
    }
    this.#psks = psks.map((psk, i) => {
      if (!(psk instanceof Uint8Array) || psk.length !== PSK_LEN) {
        throw new NoiseError(`Invalid PSK ${i}: expected ${PSK_LEN} bytes`);
      }
      return psk.slice();
    });
    if (!(opts.prologue instanceof Uint8Array)) throw new NoiseError("prologue must be bytes");
    this.#symmetric = new SymmetricState(this.#protocol.name, this.#protocol.hash);
    this.#symmetric.mixHash(opts.prologue);
  }

  /** True once every handshake message was written or read. */
  get isComplete(): boolean {
    return this.#next === this.#protocol.messages.length;
  }

  /** The peer's static public key, once its `s` token was read. */
  get remoteStaticKey(): Uint8Array | undefined {
    return this.#rs?.slice();
  }

  /** The handshake hash h: a channel binding once the handshake is complete. */
  get handshakeHash(): Uint8Array {
    return this.#symmetric.handshakeHash;
  }

  /** WriteMessage(payload): the next handshake message, carrying `payload`. */
  writeMessage(payload: Uint8Array): Uint8Array {
    const tokens = this.#nextPattern(true);
    const size = this.#messageSize(tokens, payload.length);
    if (size > MAX_NOISE_MESSAGE) {
      throw new NoiseError(
        `Noise handshake message ${this.#next + 1} would be ${size} bytes, at most ` +
          `${MAX_NOISE_MESSAGE}`,
      );
    }
    return this.#guard(() => {
      const ss = this.#symmetric;
      const out = new Uint8Array(size);
      let at = 0;
      const put = (bytes: Uint8Array) => {
        out.set(bytes, at);
        at += bytes.length;
      };
      for (const token of tokens) {
        if (token === "e") {
          this.#e = this.#fixedEphemeral ?? generateKeyPair();
          this.#fixedEphemeral = undefined;
          put(this.#e.publicKey);
          this.#mixEphemeral(this.#e.publicKey);
        } else if (token === "s") {
          put(ss.encryptAndHash(this.#s.publicKey));
        } else {
          this.#mixToken(token);
        }
      }
      put(ss.encryptAndHash(payload));
      this.#next++;
      return out;
    });
  }

  /** ReadMessage(message): the payload of the peer's next handshake message. */
  readMessage(message: Uint8Array): Uint8Array {
    const tokens = this.#nextPattern(false);
    return this.#guard(() => {
      if (message.length > MAX_NOISE_MESSAGE) {
        throw new NoiseError(
          `Noise handshake message ${this.#next + 1} is ${message.length} bytes, at most ` +
            `${MAX_NOISE_MESSAGE}`,
        );
      }
      const ss = this.#symmetric;
      let at = 0;
      const need = (n: number, what: string) => {
        if (message.length - at < n) {
          throw new NoiseError(
            `Noise handshake message ${this.#next + 1} is truncated: ${message.length} bytes ` +
              `end inside the ${what}`,
          );
        }
      };
      const take = (n: number, what: string): Uint8Array => {
        need(n, what);
        return message.subarray(at, at += n);
      };
      for (const token of tokens) {
        if (token === "e") {
          this.#re = take(DH_LEN, "ephemeral key").slice();
          this.#mixEphemeral(this.#re);
        } else if (token === "s") {
          const field = take(DH_LEN + (ss.hasKey ? TAG_LEN : 0), "static key");
          this.#rs = decrypting(() => ss.decryptAndHash(field), "the peer's static key");
        } else {
          this.#mixToken(token);
        }
      }
      need(ss.hasKey ? TAG_LEN : 0, "payload's tag");
      const payload = decrypting(() => ss.decryptAndHash(message.subarray(at)), "the payload");
      this.#next++;
      return payload;
    });
  }

  /**
   * Split(): the transport CipherStates, `send` for this side's messages and `receive` for the
   * peer's. Only once the handshake is complete, and only once (a second pair would reuse nonces).
   */
  split(): TransportCiphers {
    if (this.#failed) throw this.#failed;
    if (!this.isComplete) {
      throw new NoiseError(
        `Noise handshake not complete: ${this.#next} of ${this.#protocol.messages.length} ` +
          `messages done, split() needs all`,
      );
    }
    if (this.#splitDone) throw new NoiseError("Noise split() already called for this handshake");
    this.#splitDone = true;
    const [c1, c2] = this.#symmetric.split();
    return this.#initiator ? { send: c1, receive: c2 } : { send: c2, receive: c1 };
  }

  /** The next message pattern, if it is this side's turn to write (or read) it. */
  #nextPattern(writing: boolean): readonly Token[] {
    if (this.#failed) throw this.#failed;
    const messages = this.#protocol.messages;
    if (this.#next >= messages.length) {
      throw new NoiseError(`Noise handshake already complete: nothing more to ${verb(writing)}`);
    }
    const initiatorWrites = this.#next % 2 === 0;
    if ((initiatorWrites === this.#initiator) !== writing) {
      throw new NoiseError(
        `Noise handshake: not the ${this.#initiator ? "initiator" : "responder"}'s turn to ` +
          `${verb(writing)} message ${this.#next + 1} of ${messages.length}`,
      );
    }
    return messages[this.#next];
  }

  /** The size of the message `tokens` make with a payload of `payloadLength` bytes. */
  #messageSize(tokens: readonly Token[], payloadLength: number): number {
    let keyed = this.#symmetric.hasKey;
    let size = 0;
    for (const token of tokens) {
      if (token === "e") {
        size += DH_LEN;
        if (this.#protocol.psk) keyed = true;
      } else if (token === "s") {
        size += DH_LEN + (keyed ? TAG_LEN : 0);
      } else {
        keyed = true; // every other token mixes a key
      }
    }
    return size + payloadLength + (keyed ? TAG_LEN : 0);
  }

  /** MixHash(e), and in a PSK handshake MixKey(e) too (spec section 9.2). */
  #mixEphemeral(publicKey: Uint8Array): void {
    this.#symmetric.mixHash(publicKey);
    if (this.#protocol.psk) this.#symmetric.mixKey(publicKey);
  }

  /** The DH tokens and `psk`. */
  #mixToken(token: Exclude<Token, "e" | "s">): void {
    const ss = this.#symmetric;
    if (token === "psk") {
      ss.mixKeyAndHash(this.#psks[this.#pskIndex++]);
      return;
    }
    // es: DH(e, rs) for the initiator, DH(s, re) for the responder; se the other way round.
    const localEphemeral = token === "ee" || (token === "es") === this.#initiator;
    const remoteEphemeral = token === "ee" || (token === "se") === this.#initiator;
    const local = localEphemeral ? this.#e : this.#s;
    const remote = remoteEphemeral ? this.#re : this.#rs;
    if (!local || !remote) throw new NoiseError(`Noise token "${token}" before its keys are known`);
    ss.mixKey(dh(local.privateKey, remote));
  }

  /** Runs a message step; any failure marks the state failed for good. */
  #guard<T>(step: () => T): T {
    try {
      return step();
    } catch (e) {
      this.#failed = e instanceof NoiseError
        ? e
        : new NoiseError(`Noise handshake failed: ${(e as Error)?.message ?? e}`, { cause: e });
      throw this.#failed;
    }
  }
}

function verb(writing: boolean): string {
  return writing ? "write" : "read";
}

/** Rewords a decryption failure inside a handshake message. */
function decrypting<T>(step: () => T, what: string): T {
  try {
    return step();
  } catch (e) {
    if (!(e instanceof NoiseError)) throw e;
    throw new NoiseError(
      `Noise handshake failed: cannot decrypt ${what} (the peers differ in PSK, prologue, ` +
        "protocol or keys, or the message was altered)",
      { cause: e },
    );
  }
}

/** A copy of `pair` after checking its sizes and that the public key is the private key's. */
function checkedKeyPair(pair: KeyPair, what: string): KeyPair {
  if (typeof pair !== "object" || pair === null) throw new NoiseError(`Missing ${what}`);
  const derived = keyPairFromPrivate(pair.privateKey);
  const given = pair.publicKey;
  const same = given instanceof Uint8Array && given.length === derived.publicKey.length &&
    derived.publicKey.every((b, i) => b === given[i]);
  if (!same) throw new NoiseError(`Invalid ${what}: publicKey is not the public key of privateKey`);
  return derived;
}
