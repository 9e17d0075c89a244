export { base62Decode, base62Encode, BASE62_ALPHABET } from "./base62.ts";
export {
  createBranca,
  decodeBinary,
  nativeAeadAvailable,
  NATIVE_MIN_CIPHERTEXT,
  TokenError,
  VERSION,
  type AeadBackend,
  type Branca,
  type BrancaOptions,
  type CreateBrancaOptions,
  type TokenRejection,
} from "./branca.ts";
