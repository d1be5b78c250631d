/**
 * A SymmetricState (spec section 5.2): the chaining key `ck`, the handshake hash `h` and the
 * handshake's CipherState, absent until the first MixKey (then EncryptAndHash passes plaintext
 * through, as the spec's empty `k` does; keeping that case here means a CipherState always has a
 * key).
 */
import { CipherState } from "./cipher_state.ts";
import type { HashFunction } from "./hash_function.ts";
import { HASH_LEN } from "./limits.ts";

export class SymmetricState {
  readonly #hash: HashFunction;
  #ck: Uint8Array;
  #h: Uint8Array;
  #cipher: CipherState | undefined;

  /** InitializeSymmetric(protocol_name). */
  constructor(protocolName: string, hash: HashFunction) {
    this.#hash = hash;
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= HASH_LEN) {
      this.#h = new Uint8Array(HASH_LEN);
      this.#h.set(name);
    } else {
      this.#h = hash.hash(name);
    }
    this.#ck = this.#h;
  }

  /** The handshake hash h (GetHandshakeHash); a copy. */
  get handshakeHash(): Uint8Array {
    return this.#h.slice();
  }

  /** HasKey(). */
  get hasKey(): boolean {
    return this.#cipher !== undefined;
  }

  mixKey(inputKeyMaterial: Uint8Array): void {
    const [ck, k] = this.#hash.hkdf(this.#ck, inputKeyMaterial, 2);
    this.#ck = ck;
    this.#cipher = new CipherState(k);
  }

  mixHash(data: Uint8Array): void {
    this.#h = this.#hash.hash(this.#h, data);
  }

  mixKeyAndHash(inputKeyMaterial: Uint8Array): void {
    const [ck, h, k] = this.#hash.hkdf(this.#ck, inputKeyMaterial, 3);
    this.#ck = ck;
    this.mixHash(h);
    this.#cipher = new CipherState(k);
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.#cipher ? this.#cipher.encrypt(plaintext, this.#h) : plaintext.slice();
    this.mixHash(ciphertext);
    return ciphertext;
  }

  /** Throws NoiseError when the ciphertext does not authenticate; h is then left unchanged. */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.#cipher ? this.#cipher.decrypt(ciphertext, this.#h) : ciphertext.slice();
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** Split(): the initiator-to-responder and responder-to-initiator CipherStates. */
  split(): [CipherState, CipherState] {
    const [k1, k2] = this.#hash.hkdf(this.#ck, new Uint8Array(0), 2);
    return [new CipherState(k1), new CipherState(k2)];
  }
}
