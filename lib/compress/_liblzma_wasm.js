// node-liblzma's WASM build, split so that lib/compress/_xz.ts can instantiate it only when xz
// is first used: the compiled module (a source phase import: compiled with the module graph,
// embedded by `deno compile`, no file IO) and the Emscripten glue that instantiates it. Plain JS
// because TypeScript cannot parse a source phase import yet.
import source liblzmaWasm from "node-liblzma/wasm/liblzma.wasm";
import createLzma from "node-liblzma/wasm/liblzma.js";

export { createLzma, liblzmaWasm };
