/** Nix signing keys and narinfo signatures (ed25519). */
export { checkKeyName, KeyError, type PublicKey, type SecretKey } from "./keys.ts";
export { formatSecretKey, generateSecretKey, parseSecretKey, publicKeyOf } from "./secret_key.ts";
export { formatPublicKey, parsePublicKey } from "./public_key.ts";
export { signMessage, verifyMessage } from "./sign_message.ts";
export { signNarinfo, verifyNarinfo } from "./sign_narinfo.ts";
