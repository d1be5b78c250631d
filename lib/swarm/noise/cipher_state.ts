/**
 * A CipherState (spec section 5.1) with the `ChaChaPoly` cipher functions (section 12.3):
 * AEAD_CHACHA20_POLY1305 with a 96-bit nonce of 4 zero bytes and the 64-bit counter `n` in
 * little-endian, the 16-byte tag appended. This is the transport's hot path (64 KiB messages), so
 * it keeps per-message work to one node:crypto cipher, one nonce rewrite in place and one copy
 * (the tag appended to the ciphertext).
 */
import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv } from "node:crypto";
import { MAX_NOISE_MESSAGE, TAG_LEN } from "./limits.ts";
import { NoiseError } from "./noise_error.ts";
import { freeBuffer } from "../../encoding/mod.ts";

const ALGORITHM = "chacha20-poly1305";
const OPTIONS = { authTagLength: TAG_LEN } as const;
const EMPTY = new Uint8Array(0);
const TWO_32 = 0x1_0000_0000;

/** Encrypts or decrypts one direction of messages under one key, counting the nonce. */
export class CipherState {
  readonly #key: Buffer;
  readonly #nonce = Buffer.alloc(12); // bytes 0..3 stay zero
  // n as two 32-bit halves: exact up to 2^64 - 1 without a BigInt per message.
  #low = 0;
  #high = 0;

  /** A CipherState with the 32-byte key `key` and n = 0 (InitializeKey). */
  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length !== 32) {
      throw new NoiseError("Invalid ChaChaPoly key: expected 32 bytes");
    }
    this.#key = Buffer.from(key);
  }

  /** ENCRYPT(k, n++, ad, plaintext): the ciphertext with its 16-byte tag appended. */
  encrypt(plaintext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
    if (plaintext.length > MAX_NOISE_MESSAGE - TAG_LEN) {
      throw new NoiseError(
        `Noise message too large: ${plaintext.length} bytes of plaintext, at most ` +
          `${MAX_NOISE_MESSAGE - TAG_LEN} fit in a ${MAX_NOISE_MESSAGE}-byte message`,
      );
    }
    this.#prepareNonce();
    const cipher = createCipheriv(ALGORITHM, this.#key, this.#nonce, OPTIONS);
    if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    cipher.final();
    const out = new Uint8Array(body.length + TAG_LEN);
    out.set(body);
    out.set(cipher.getAuthTag(), body.length);
    this.#advance();
    return out;
  }

  /**
   * ENCRYPT of the concatenation of `parts`, written into `out` at `offset`
   * (ciphertext, then the tag) instead of a new array: bulk transfers frame
   * many messages without gathering each plaintext first. Returns the bytes
   * written (the plaintext's length plus the tag).
   */
  encryptInto(
    parts: readonly Uint8Array[],
    ad: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): number {
    let n = 0;
    for (const p of parts) n += p.length;
    if (n > MAX_NOISE_MESSAGE - TAG_LEN) {
      throw new NoiseError(`Noise message too large: ${n} bytes of plaintext`);
    }
    if (offset + n + TAG_LEN > out.length) throw new RangeError("output buffer too small");
    this.#prepareNonce();
    const cipher = createCipheriv(ALGORITHM, this.#key, this.#nonce, OPTIONS);
    if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: n });
    let at = offset;
    for (const p of parts) {
      const body = cipher.update(p);
      out.set(body, at);
      at += body.length;
      freeBuffer(body); // copied into `out`: freed now, not at the next GC
    }
    const rest = cipher.final();
    out.set(rest, at);
    at += rest.length;
    out.set(cipher.getAuthTag(), at);
    this.#advance();
    return at + TAG_LEN - offset;
  }

  /**
   * DECRYPT(k, n++, ad, ciphertext): the plaintext. A bad tag (wrong key, nonce or ad, or altered
   * bytes) throws NoiseError and leaves n unchanged, as the spec says.
   */
  decrypt(ciphertext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
    if (ciphertext.length > MAX_NOISE_MESSAGE) {
      throw new NoiseError(
        `Noise message too large: ${ciphertext.length} bytes, at most ${MAX_NOISE_MESSAGE}`,
      );
    }
    if (ciphertext.length < TAG_LEN) {
      throw new NoiseError(
        `Noise ciphertext too short: ${ciphertext.length} bytes, the tag alone is ${TAG_LEN}`,
      );
    }
    this.#prepareNonce();
    const end = ciphertext.length - TAG_LEN;
    const decipher = createDecipheriv(ALGORITHM, this.#key, this.#nonce, OPTIONS);
    if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: end });
    decipher.setAuthTag(ciphertext.subarray(end));
    const body = decipher.update(ciphertext.subarray(0, end));
    try {
      decipher.final();
    } catch (e) {
      throw new NoiseError(
        "Noise decryption failed: the message does not authenticate (wrong key or nonce, " +
          "replayed, reordered or altered)",
        { cause: e },
      );
    }
    this.#advance();
    return new Uint8Array(body.buffer, body.byteOffset, body.length);
  }

  /**
   * SetNonce: sets n (0 <= nonce < 2^64). For transports that carry n with each message (spec
   * section 11.4) and for tests; a nonce must never be used twice with the same key.
   */
  setNonce(nonce: bigint): void {
    if (nonce < 0n || nonce >= 1n << 64n) {
      throw new RangeError(`Noise nonce out of range: ${nonce}`);
    }
    this.#low = Number(nonce & 0xffff_ffffn);
    this.#high = Number(nonce >> 32n);
  }

  /** Writes n into the nonce buffer; n = 2^64 - 1 is reserved, so reaching it ends this state. */
  #prepareNonce(): void {
    if (this.#low === TWO_32 - 1 && this.#high === TWO_32 - 1) {
      throw new NoiseError("Noise nonce exhausted: 2^64 - 1 messages under one key");
    }
    this.#nonce.writeUInt32LE(this.#low, 4);
    this.#nonce.writeUInt32LE(this.#high, 8);
  }

  #advance(): void {
    if (++this.#low === TWO_32) {
      this.#low = 0;
      this.#high++;
    }
  }
}
