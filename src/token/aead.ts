/**
 * The AEAD under Branca tokens, from libsodium (its official WebAssembly build,
 * `libsodium-wrappers`) on every runtime. No cipher or MAC is written here: a
 * hand-written Poly1305 once produced wrong tags for rare inputs that no random or
 * property test could reach. Why libsodium rather than `node:crypto`
 * (Node and Deno; Bun lacks chacha20-poly1305) or @noble/ciphers:
 * BENCHMARKS.md, "Token verification" (it is the fastest of the three for
 * token-sized messages on all three runtimes, and one back end everywhere).
 *
 * libsodium initialises asynchronously, hence the top-level await: importing this
 * module resolves once the library is ready.
 */
import sodium from "libsodium-wrappers";

await sodium.ready;

/** An AEAD with a 32-byte key and a 16-byte tag appended to the ciphertext. */
export interface Aead {
  /** ciphertext || tag */
  seal(plaintext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array;
  /** The plaintext, or null if the tag does not verify. */
  open(sealed: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | null;
}

export interface AeadBackend {
  readonly name: string;
  /** XChaCha20-Poly1305 (IETF, 24-byte nonce): what tokens use. */
  readonly xchacha20poly1305: Aead;
  /** ChaCha20-Poly1305 (RFC 8439, 12-byte nonce): the same library's inner AEAD, exposed for its test vectors. */
  readonly chacha20poly1305: Aead;
}

export const LIBSODIUM: AeadBackend = {
  name: "libsodium-wrappers (WebAssembly)",
  xchacha20poly1305: {
    seal: (plaintext, ad, nonce, key) => sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key),
    open(sealed, ad, nonce, key) {
      try {
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed, ad, nonce, key);
      } catch {
        return null; // libsodium throws on a tag mismatch
      }
    },
  },
  chacha20poly1305: {
    seal: (plaintext, ad, nonce, key) => sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key),
    open(sealed, ad, nonce, key) {
      try {
        return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealed, ad, nonce, key);
      } catch {
        return null;
      }
    },
  },
};
