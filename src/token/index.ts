export { base62Decode, base62Encode, BASE62_ALPHABET } from "./base62.ts";
export { LIBSODIUM, type Aead, type AeadBackend } from "./aead.ts";
export {
  createBranca,
  decodeBinary,
  TokenError,
  VERSION,
  type Branca,
  type BrancaOptions,
  type CreateBrancaOptions,
  type OpenedToken,
  type TokenRejection,
} from "./branca.ts";
export { checkTokenCrypto, KNOWN_ANSWER, SelfTestError } from "./self-test.ts";
