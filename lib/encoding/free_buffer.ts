/**
 * Frees a buffer's memory now rather than at the next GC. A peer fetch
 * moves hundreds of MiB through short-lived buffers (decrypted frames,
 * messages, decoded chunks, body pieces); V8 collects them only once enough
 * has piled up, which showed as ~90 MiB of a fetching node's peak RSS. `transfer(0)` detaches
 * the buffer and releases its backing store at once.
 *
 * Only a buffer that holds little besides `view` is freed (never a pool
 * that small node Buffers share, never a view into something larger), and
 * only when the caller owns it outright: any other view of it reads as
 * empty afterwards.
 *
 * @module
 */

/** Frees the ArrayBuffer under `view` if it is little larger than `view` (`slack` bytes). */
export function freeBuffer(view: Uint8Array, slack = 64): void {
  const b = view.buffer;
  if (!(b instanceof ArrayBuffer) || b.detached) return;
  if (b.byteLength < 8192 || b.byteLength > view.byteLength + slack) return;
  b.transfer(0);
}
