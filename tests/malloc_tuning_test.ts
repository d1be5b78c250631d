import assert from "node:assert/strict";
import { tuneMalloc } from "../lib/io/malloc_tuning.ts";

Deno.test("tuneMalloc sets glibc's mmap threshold when FFI is allowed", () => {
  // CI and the flake's runtime are glibc Linux: there it must apply.
  assert.equal(tuneMalloc(), true);
});

Deno.test({
  name: "tuneMalloc does nothing (and asks for nothing) without the FFI permission",
  permissions: { ffi: false },
  fn() {
    assert.equal(tuneMalloc(), false);
  },
});
