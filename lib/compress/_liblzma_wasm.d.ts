/** Types of _liblzma_wasm.js: node-liblzma's compiled WASM and its Emscripten factory. */
export declare const liblzmaWasm: WebAssembly.Module;
/** Instantiates the module; `overrides` becomes the Emscripten `Module` object. */
// deno-lint-ignore no-explicit-any
export declare function createLzma(overrides: any): Promise<any>;
