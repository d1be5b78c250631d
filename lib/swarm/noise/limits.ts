/** Sizes fixed by the Noise spec (revision 34) for 25519 / ChaChaPoly / 32-byte hashes. */

/** The largest Noise message, handshake or transport, in bytes (spec section 3). */
export const MAX_NOISE_MESSAGE = 65535;
/** Bytes of a ChaChaPoly authentication tag. */
export const TAG_LEN = 16;
/** Bytes of an X25519 public key and of a DH output. */
export const DH_LEN = 32;
/** Bytes of a BLAKE2s or SHA256 digest, and of every key Noise derives. */
export const HASH_LEN = 32;
/** Bytes of a pre-shared key. */
export const PSK_LEN = 32;
