/** Every failure of the Noise layer: a refused name or key, a message out of turn or over the size
 * limit, a failed decryption, an exhausted nonce. */
export class NoiseError extends Error {
  override name = "NoiseError";
}
