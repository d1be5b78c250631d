/**
 * The Noise Protocol Framework (revision 34, https://noiseprotocol.org/noise.html) for the peer
 * links of the swarm: handshake pattern XX with the `psk0`..`psk3` modifiers, DH `25519`, cipher
 * `ChaChaPoly`, hash `BLAKE2s` or `SHA256`, on node:crypto alone. Pure: it moves bytes, the caller
 * frames and sends them (every Noise message is at most {@link MAX_NOISE_MESSAGE} bytes).
 *
 * ```
 * Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s
 *   -> e                     initiator's ephemeral key, plaintext payload
 *   <- e, ee, s, es          responder's ephemeral and (encrypted) static key
 *   -> s, se, psk            initiator's static key; the PSK is mixed in last
 * then split(): send / receive CipherStates, nonces from 0 in each direction
 * ```
 *
 * @example A complete XXpsk3 handshake between two in-memory parties, and one transport message
 * ```ts
 * import { generateKeyPair, HandshakeState } from "./mod.ts";
 * import { randomBytes } from "node:crypto";
 *
 * const protocolName = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s";
 * const prologue = new TextEncoder().encode("arca swarm v1");
 * const psks = [new Uint8Array(randomBytes(32))]; // e.g. derived from the topic key
 * const alice = new HandshakeState({
 *   protocolName, initiator: true, prologue, psks, staticKey: generateKeyPair(),
 * });
 * const bobKey = generateKeyPair();
 * const bob = new HandshakeState({
 *   protocolName, initiator: false, prologue, psks, staticKey: bobKey,
 * });
 *
 * bob.readMessage(alice.writeMessage(new Uint8Array(0)));
 * alice.readMessage(bob.writeMessage(new TextEncoder().encode("hello from bob")));
 * bob.readMessage(alice.writeMessage(new Uint8Array(0)));
 * if (!alice.isComplete || !bob.isComplete) throw new Error("handshake not complete");
 * // Each side now knows the other's static key, and both hold the same handshake hash.
 * if (alice.remoteStaticKey?.join() !== bobKey.publicKey.join()) throw new Error("wrong peer");
 * if (alice.handshakeHash.join() !== bob.handshakeHash.join()) throw new Error("hash differs");
 *
 * const a = alice.split();
 * const b = bob.split();
 * const sealed = a.send.encrypt(new TextEncoder().encode("narinfo please"));
 * const opened = new TextDecoder().decode(b.receive.decrypt(sealed));
 * if (opened !== "narinfo please") throw new Error(opened);
 * ```
 * @module
 */
export { CipherState } from "./cipher_state.ts";
export { type HandshakeOptions, HandshakeState, type TransportCiphers } from "./handshake_state.ts";
export { MAX_NOISE_MESSAGE } from "./limits.ts";
export { NoiseError } from "./noise_error.ts";
export { generateKeyPair, type KeyPair, keyPairFromPrivate } from "./x25519.ts";
