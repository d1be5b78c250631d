/** Byte encodings Nix uses: base16, nix32 and standard base64. */
export { decodeHex, encodeHex } from "./hex.ts";
export { decodeNix32, encodeNix32, NIX32_ALPHABET, nix32Length } from "./nix32.ts";
export { decodeBase64, encodeBase64 } from "./base64.ts";
export { concatBytes } from "./concat_bytes.ts";
export { freeBuffer } from "./free_buffer.ts";
