/**
 * Asks glibc's malloc to give every block of 128 KiB or more its own
 * mapping, returned to the system when it is freed.
 *
 * By default glibc raises that threshold to the size of the first such block
 * freed (up to 32 MiB), so afterwards the MiB-sized buffers an import cycles
 * through (compression batches and their results, pack buffers, chunks that
 * span reads) come from the main heap, which fragments and does not shrink.
 * Measured on the bench closure import (254 paths, 1.4 GiB of NAR), peak RSS
 * was 152-166 MiB by default and 136-146 MiB with the fixed threshold; on a
 * 1 GiB single-file import 125-128 against 118-120 MiB. The price is system
 * time for mapping and faulting in fresh buffers: ~0.3-0.5 s on the closure
 * (~20 s of CPU), ~1.1 s per GiB on the single file (~13 s). Pooling the
 * compression batch buffers took that back but not in total CPU (tried, 2
 * alternating pairs). Like the V8 flags
 * (`lib/cli/runtime_flags.ts`), this cannot be an environment variable that
 * every launcher sets (a compiled binary has no launcher), so the program
 * sets it itself, once, at start.
 *
 * Returns whether it was applied: not where libc is not glibc or FFI is not
 * allowed, where malloc keeps its defaults.
 */
const M_MMAP_THRESHOLD = -3;
const MMAP_THRESHOLD = 128 * 1024;

export function tuneMalloc(): boolean {
  // Never a permission prompt for this.
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return false;
  let libc: Deno.DynamicLibrary<{ mallopt: { parameters: ["i32", "i32"]; result: "i32" } }>;
  try {
    libc = Deno.dlopen("libc.so.6", { mallopt: { parameters: ["i32", "i32"], result: "i32" } });
  } catch {
    return false;
  }
  try {
    return libc.symbols.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) === 1;
  } finally {
    libc.close();
  }
}
