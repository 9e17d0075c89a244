/**
 * Branca tokens (https://branca.io, https://github.com/tuupola/branca-spec):
 *
 *   base62( 0xBA || timestamp u32be || nonce[24] || ciphertext || tag[16] )
 *
 * sealed with XChaCha20-Poly1305 (IETF), the 29-byte header as additional data.
 *
 * Two interchangeable AEAD back ends, chosen once at module load:
 * - "native": HChaCha20 in JS + the runtime's `node:crypto`
 *   `chacha20-poly1305` (Node and Deno have it, Bun does not);
 * - "portable": ChaCha20 + Poly1305 in plain JS (this file).
 * See `BENCHMARKS.md` (## Token verification) for the measurements behind the
 * choice: creating a `node:crypto` decipher costs several microseconds, so the
 * portable code is faster for short ciphertexts; on Node and Deno the native
 * cipher wins from roughly 1-1.5 KB. "auto" therefore uses "portable" below
 * NATIVE_MIN_CIPHERTEXT (1024 bytes) and "native" (when present) from there.
 * @noble/ciphers' xchacha20poly1305 was measured too and is slower than both
 * at every size (per-call validation and allocation dominate short tokens).
 *
 * Order of checks in `decode` (each before any further work):
 *   empty -> "missing"; not base62 -> "malformed"; < 45 bytes -> "too_short";
 *   first byte != 0xBA -> "version"; Poly1305 tag mismatch -> "forged";
 *   timestamp + ttl < now -> "expired"; only then is the payload decrypted
 *   (portable back end; the native one decrypts and authenticates in one call).
 * The tag is verified before the TTL, as the spec does (TTL is an optional
 * check on top of "Verifying a Token", steps 1-7) and as the JavaScript
 * reference implementation (branca-js, the `branca` package) does: until the tag is
 * verified the timestamp is attacker-controlled, so "expired" must only ever
 * be said about a token we actually minted (a client that gets "expired" may
 * go and refresh; a forged token must say "forged").
 */
import * as nodeCrypto from "node:crypto";
import { base62Decode, base62Encode, TokenError, type TokenRejection } from "./base62.ts";

export { TokenError, type TokenRejection };

export interface BrancaOptions {
  /** seconds; 0 or undefined = no expiry check */
  ttl?: number;
  /** unix seconds, for tests */
  now?: number;
}

export interface Branca {
  /** Verifies and decrypts. Throws TokenError with the reason (see the module comment for the order). */
  decode(token: string, options?: BrancaOptions): Uint8Array;
  encode(payload: Uint8Array, options?: { timestamp?: number; nonce?: Uint8Array }): string;
}

export type AeadBackend = "native" | "portable";

export interface CreateBrancaOptions {
  /**
   * Which XChaCha20-Poly1305 implementation to use. "auto" (default) picks the
   * fastest measured one per ciphertext size; "native" throws if the runtime
   * has no `node:crypto` chacha20-poly1305. Mostly for tests and benchmarks.
   */
  aead?: "auto" | AeadBackend;
}

export const VERSION = 0xba;
const HEADER = 29;
const NONCE = 24;
const TAG = 16;
const MIN_LENGTH = HEADER + TAG; // 45

/* ------------------------------------------------------------------------ */
/* ChaCha20 / HChaCha20                                                      */
/* ------------------------------------------------------------------------ */

const SIGMA0 = 0x61707865;
const SIGMA1 = 0x3320646e;
const SIGMA2 = 0x79622d32;
const SIGMA3 = 0x6b206574;

/**
 * The ChaCha20 block function on state (sigma, k[0..8], w12..w15).
 * With `hchacha` set, writes the 8 HChaCha20 output words (no feed-forward)
 * to out[0..8]; otherwise the 16 keystream words to out[0..16].
 */
function chachaCore(
  k: Uint32Array,
  w12: number,
  w13: number,
  w14: number,
  w15: number,
  out: Uint32Array,
  hchacha: boolean,
): void {
  const k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7];
  let x0 = SIGMA0, x1 = SIGMA1, x2 = SIGMA2, x3 = SIGMA3;
  let x4 = k0, x5 = k1, x6 = k2, x7 = k3, x8 = k4, x9 = k5, x10 = k6, x11 = k7;
  let x12 = w12, x13 = w13, x14 = w14, x15 = w15;
  for (let r = 0; r < 10; r++) {
    // column rounds
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);

    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);

    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);

    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);

    // diagonal rounds
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);

    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);

    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);

    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
  }
  if (hchacha) {
    out[0] = x0; out[1] = x1; out[2] = x2; out[3] = x3;
    out[4] = x12; out[5] = x13; out[6] = x14; out[7] = x15;
    return;
  }
  out[0] = x0 + SIGMA0; out[1] = x1 + SIGMA1; out[2] = x2 + SIGMA2; out[3] = x3 + SIGMA3;
  out[4] = x4 + k0; out[5] = x5 + k1; out[6] = x6 + k2; out[7] = x7 + k3;
  out[8] = x8 + k4; out[9] = x9 + k5; out[10] = x10 + k6; out[11] = x11 + k7;
  out[12] = x12 + w12; out[13] = x13 + w13; out[14] = x14 + w14; out[15] = x15 + w15;
}

function u32le(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/** XChaCha20 subkey for `nonce` = bytes [nonceAt, nonceAt + 16) of `src`. */
function hchacha20(key: Uint32Array, src: Uint8Array, nonceAt: number, out: Uint32Array): void {
  chachaCore(key, u32le(src, nonceAt), u32le(src, nonceAt + 4), u32le(src, nonceAt + 8), u32le(src, nonceAt + 12), out, true);
}

/**
 * dst[dstAt .. dstAt+len) = src[srcAt .. srcAt+len) XOR ChaCha20(key, counter 1.., nonce (0, n1, n2)).
 * Byte-wise, so independent of the platform's endianness.
 */
function chacha20Xor(
  key: Uint32Array,
  n1: number,
  n2: number,
  src: Uint8Array,
  srcAt: number,
  len: number,
  dst: Uint8Array,
  dstAt: number,
): void {
  const ks = KS;
  let counter = 1;
  let off = 0;
  for (; off + 64 <= len; off += 64) {
    chachaCore(key, counter++, 0, n1, n2, ks, false);
    let s = srcAt + off;
    let d = dstAt + off;
    for (let w = 0; w < 16; w++, s += 4, d += 4) {
      const v = ks[w];
      dst[d] = src[s] ^ v;
      dst[d + 1] = src[s + 1] ^ (v >>> 8);
      dst[d + 2] = src[s + 2] ^ (v >>> 16);
      dst[d + 3] = src[s + 3] ^ (v >>> 24);
    }
  }
  if (off < len) {
    chachaCore(key, counter, 0, n1, n2, ks, false);
    for (let i = 0; off < len; off++, i++) {
      dst[dstAt + off] = src[srcAt + off] ^ (ks[i >> 2] >>> ((i & 3) << 3));
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Poly1305 (10 limbs of 13 bits, the "donna-16" layout)                     */
/* ------------------------------------------------------------------------ */

/**
 * Poly1305 over msg[0 .. len), len a multiple of 16 (AEAD input is always
 * zero-padded to full blocks). `key` holds the one-time key as 8 LE words
 * (r = words 0..3, s = words 4..7). Writes the 16-byte tag into `tag`.
 */
function poly1305(key: Uint32Array, msg: Uint8Array, len: number, tag: Uint8Array): void {
  const kw0 = key[0], kw1 = key[1], kw2 = key[2], kw3 = key[3];
  const t0 = kw0 & 0xffff, t1 = kw0 >>> 16, t2 = kw1 & 0xffff, t3 = kw1 >>> 16;
  const t4 = kw2 & 0xffff, t5 = kw2 >>> 16, t6 = kw3 & 0xffff, t7 = kw3 >>> 16;
  const r0 = t0 & 0x1fff;
  const r1 = ((t0 >>> 13) | (t1 << 3)) & 0x1fff;
  const r2 = ((t1 >>> 10) | (t2 << 6)) & 0x1f03;
  const r3 = ((t2 >>> 7) | (t3 << 9)) & 0x1fff;
  const r4 = ((t3 >>> 4) | (t4 << 12)) & 0x00ff;
  const r5 = (t4 >>> 1) & 0x1ffe;
  const r6 = ((t4 >>> 14) | (t5 << 2)) & 0x1fff;
  const r7 = ((t5 >>> 11) | (t6 << 5)) & 0x1f81;
  const r8 = ((t6 >>> 8) | (t7 << 8)) & 0x1fff;
  const r9 = (t7 >>> 5) & 0x007f;
  const s1 = 5 * r1, s2 = 5 * r2, s3 = 5 * r3, s4 = 5 * r4, s5 = 5 * r5;
  const s6 = 5 * r6, s7 = 5 * r7, s8 = 5 * r8, s9 = 5 * r9;

  let h0 = 0, h1 = 0, h2 = 0, h3 = 0, h4 = 0, h5 = 0, h6 = 0, h7 = 0, h8 = 0, h9 = 0;
  for (let p = 0; p < len; p += 16) {
    const m0 = msg[p] | (msg[p + 1] << 8);
    const m1 = msg[p + 2] | (msg[p + 3] << 8);
    const m2 = msg[p + 4] | (msg[p + 5] << 8);
    const m3 = msg[p + 6] | (msg[p + 7] << 8);
    const m4 = msg[p + 8] | (msg[p + 9] << 8);
    const m5 = msg[p + 10] | (msg[p + 11] << 8);
    const m6 = msg[p + 12] | (msg[p + 13] << 8);
    const m7 = msg[p + 14] | (msg[p + 15] << 8);
    h0 += m0 & 0x1fff;
    h1 += ((m0 >>> 13) | (m1 << 3)) & 0x1fff;
    h2 += ((m1 >>> 10) | (m2 << 6)) & 0x1fff;
    h3 += ((m2 >>> 7) | (m3 << 9)) & 0x1fff;
    h4 += ((m3 >>> 4) | (m4 << 12)) & 0x1fff;
    h5 += (m4 >>> 1) & 0x1fff;
    h6 += ((m4 >>> 14) | (m5 << 2)) & 0x1fff;
    h7 += ((m5 >>> 11) | (m6 << 5)) & 0x1fff;
    h8 += ((m6 >>> 8) | (m7 << 8)) & 0x1fff;
    h9 += (m7 >>> 5) | 0x800; // 2^128 bit of a full block

    // h *= r (mod 2^130 - 5); each d sum is split in two so it stays < 2^32.
    let c = 0;
    let d0 = c + h0 * r0 + h1 * s9 + h2 * s8 + h3 * s7 + h4 * s6;
    c = d0 >>> 13; d0 &= 0x1fff;
    d0 += h5 * s5 + h6 * s4 + h7 * s3 + h8 * s2 + h9 * s1;
    c += d0 >>> 13; d0 &= 0x1fff;
    let d1 = c + h0 * r1 + h1 * r0 + h2 * s9 + h3 * s8 + h4 * s7;
    c = d1 >>> 13; d1 &= 0x1fff;
    d1 += h5 * s6 + h6 * s5 + h7 * s4 + h8 * s3 + h9 * s2;
    c += d1 >>> 13; d1 &= 0x1fff;
    let d2 = c + h0 * r2 + h1 * r1 + h2 * r0 + h3 * s9 + h4 * s8;
    c = d2 >>> 13; d2 &= 0x1fff;
    d2 += h5 * s7 + h6 * s6 + h7 * s5 + h8 * s4 + h9 * s3;
    c += d2 >>> 13; d2 &= 0x1fff;
    let d3 = c + h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s9;
    c = d3 >>> 13; d3 &= 0x1fff;
    d3 += h5 * s8 + h6 * s7 + h7 * s6 + h8 * s5 + h9 * s4;
    c += d3 >>> 13; d3 &= 0x1fff;
    let d4 = c + h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0;
    c = d4 >>> 13; d4 &= 0x1fff;
    d4 += h5 * s9 + h6 * s8 + h7 * s7 + h8 * s6 + h9 * s5;
    c += d4 >>> 13; d4 &= 0x1fff;
    let d5 = c + h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1;
    c = d5 >>> 13; d5 &= 0x1fff;
    d5 += h5 * r0 + h6 * s9 + h7 * s8 + h8 * s7 + h9 * s6;
    c += d5 >>> 13; d5 &= 0x1fff;
    let d6 = c + h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2;
    c = d6 >>> 13; d6 &= 0x1fff;
    d6 += h5 * r1 + h6 * r0 + h7 * s9 + h8 * s8 + h9 * s7;
    c += d6 >>> 13; d6 &= 0x1fff;
    let d7 = c + h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3;
    c = d7 >>> 13; d7 &= 0x1fff;
    d7 += h5 * r2 + h6 * r1 + h7 * r0 + h8 * s9 + h9 * s8;
    c += d7 >>> 13; d7 &= 0x1fff;
    let d8 = c + h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4;
    c = d8 >>> 13; d8 &= 0x1fff;
    d8 += h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * s9;
    c += d8 >>> 13; d8 &= 0x1fff;
    let d9 = c + h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5;
    c = d9 >>> 13; d9 &= 0x1fff;
    d9 += h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0;
    c += d9 >>> 13; d9 &= 0x1fff;
    c = ((c << 2) + c) | 0;
    c = (c + d0) | 0;
    d0 = c & 0x1fff;
    c = c >>> 13;
    d1 += c;
    h0 = d0; h1 = d1; h2 = d2; h3 = d3; h4 = d4; h5 = d5; h6 = d6; h7 = d7; h8 = d8; h9 = d9;
  }

  // Full carry, then h mod p: compute g = h + 5 - 2^130 and keep it if >= 0.
  let c = h1 >>> 13; h1 &= 0x1fff;
  h2 += c; c = h2 >>> 13; h2 &= 0x1fff;
  h3 += c; c = h3 >>> 13; h3 &= 0x1fff;
  h4 += c; c = h4 >>> 13; h4 &= 0x1fff;
  h5 += c; c = h5 >>> 13; h5 &= 0x1fff;
  h6 += c; c = h6 >>> 13; h6 &= 0x1fff;
  h7 += c; c = h7 >>> 13; h7 &= 0x1fff;
  h8 += c; c = h8 >>> 13; h8 &= 0x1fff;
  h9 += c; c = h9 >>> 13; h9 &= 0x1fff;
  h0 += c * 5; c = h0 >>> 13; h0 &= 0x1fff;
  h1 += c; c = h1 >>> 13; h1 &= 0x1fff;
  h2 += c;

  let g0 = h0 + 5; c = g0 >>> 13; g0 &= 0x1fff;
  let g1 = h1 + c; c = g1 >>> 13; g1 &= 0x1fff;
  let g2 = h2 + c; c = g2 >>> 13; g2 &= 0x1fff;
  let g3 = h3 + c; c = g3 >>> 13; g3 &= 0x1fff;
  let g4 = h4 + c; c = g4 >>> 13; g4 &= 0x1fff;
  let g5 = h5 + c; c = g5 >>> 13; g5 &= 0x1fff;
  let g6 = h6 + c; c = g6 >>> 13; g6 &= 0x1fff;
  let g7 = h7 + c; c = g7 >>> 13; g7 &= 0x1fff;
  let g8 = h8 + c; c = g8 >>> 13; g8 &= 0x1fff;
  let g9 = (h9 + c - (1 << 13)) & 0xffff;
  // c is 1 iff h + 5 >= 2^130 (then take g), i.e. select mask = all ones.
  let mask = ((c ^ 1) - 1) & 0xffff;
  g0 &= mask; g1 &= mask; g2 &= mask; g3 &= mask; g4 &= mask;
  g5 &= mask; g6 &= mask; g7 &= mask; g8 &= mask; g9 &= mask;
  mask = ~mask & 0xffff;
  h0 = (h0 & mask) | g0; h1 = (h1 & mask) | g1; h2 = (h2 & mask) | g2; h3 = (h3 & mask) | g3;
  h4 = (h4 & mask) | g4; h5 = (h5 & mask) | g5; h6 = (h6 & mask) | g6; h7 = (h7 & mask) | g7;
  h8 = (h8 & mask) | g8; h9 = (h9 & mask) | g9;

  // Repack into 8 16-bit words and add s (mod 2^128).
  const o0 = (h0 | (h1 << 13)) & 0xffff;
  const o1 = ((h1 >>> 3) | (h2 << 10)) & 0xffff;
  const o2 = ((h2 >>> 6) | (h3 << 7)) & 0xffff;
  const o3 = ((h3 >>> 9) | (h4 << 4)) & 0xffff;
  const o4 = ((h4 >>> 12) | (h5 << 1) | (h6 << 14)) & 0xffff;
  const o5 = ((h6 >>> 2) | (h7 << 11)) & 0xffff;
  const o6 = ((h7 >>> 5) | (h8 << 8)) & 0xffff;
  const o7 = ((h8 >>> 8) | (h9 << 5)) & 0xffff;
  const kw4 = key[4], kw5 = key[5], kw6 = key[6], kw7 = key[7];
  let f = o0 + (kw4 & 0xffff);
  tag[0] = f; tag[1] = f >>> 8;
  f = o1 + (kw4 >>> 16) + (f >>> 16);
  tag[2] = f; tag[3] = f >>> 8;
  f = o2 + (kw5 & 0xffff) + (f >>> 16);
  tag[4] = f; tag[5] = f >>> 8;
  f = o3 + (kw5 >>> 16) + (f >>> 16);
  tag[6] = f; tag[7] = f >>> 8;
  f = o4 + (kw6 & 0xffff) + (f >>> 16);
  tag[8] = f; tag[9] = f >>> 8;
  f = o5 + (kw6 >>> 16) + (f >>> 16);
  tag[10] = f; tag[11] = f >>> 8;
  f = o6 + (kw7 & 0xffff) + (f >>> 16);
  tag[12] = f; tag[13] = f >>> 8;
  f = o7 + (kw7 >>> 16) + (f >>> 16);
  tag[14] = f; tag[15] = f >>> 8;
}

/* ------------------------------------------------------------------------ */
/* XChaCha20-Poly1305 on a token's bytes                                     */
/* ------------------------------------------------------------------------ */

// Module-level scratch (all use is synchronous, so sharing is safe).
const SUBKEY = new Uint32Array(8);
const KS = new Uint32Array(16);
const POLYKEY = new Uint32Array(16);
const TAGBUF = new Uint8Array(16);
let macBuf = new Uint8Array(1024);

/**
 * Poly1305 tag of the AEAD input: header[29] || pad || ct || pad || le64(29) || le64(ctLen),
 * where header = src[0..29) and ct = src[ctAt .. ctAt+ctLen). Writes into TAGBUF.
 * Expects SUBKEY to hold the XChaCha20 subkey and n1, n2 the last 8 nonce bytes.
 */
function aeadTag(n1: number, n2: number, header: Uint8Array, ct: Uint8Array, ctAt: number, ctLen: number): void {
  chachaCore(SUBKEY, 0, 0, n1, n2, POLYKEY, false);
  const ctPadded = (ctLen + 15) & ~15;
  const total = 32 + ctPadded + 16;
  if (macBuf.length < total) macBuf = new Uint8Array(Math.max(total, macBuf.length * 2));
  const m = macBuf;
  // Plain loops: on JavaScriptCore creating subarrays costs more than copying a few bytes.
  for (let i = 0; i < HEADER; i++) m[i] = header[i];
  m[29] = 0; m[30] = 0; m[31] = 0;
  if (ctLen > 256) m.set(ct.subarray(ctAt, ctAt + ctLen), 32);
  else for (let i = 0; i < ctLen; i++) m[32 + i] = ct[ctAt + i];
  for (let i = 32 + ctLen; i < total; i++) m[i] = 0;
  m[32 + ctPadded] = HEADER;
  const lenAt = 32 + ctPadded + 8;
  // le64(ctLen); ctLen < 2^32 in practice, but write the high word anyway.
  m[lenAt] = ctLen; m[lenAt + 1] = ctLen >>> 8; m[lenAt + 2] = ctLen >>> 16; m[lenAt + 3] = ctLen >>> 24;
  const hi = Math.floor(ctLen / 4294967296);
  m[lenAt + 4] = hi; m[lenAt + 5] = hi >>> 8; m[lenAt + 6] = hi >>> 16; m[lenAt + 7] = hi >>> 24;
  poly1305(POLYKEY, m, total, TAGBUF);
}

/** Constant-time comparison of TAGBUF with b[at .. at+16). */
function tagMatches(b: Uint8Array, at: number): boolean {
  let diff = 0;
  for (let i = 0; i < 16; i++) diff |= TAGBUF[i] ^ b[at + i];
  return diff === 0;
}

/* ------------------------------------------------------------------------ */
/* Native back end: node:crypto chacha20-poly1305 (Node, Deno)               */
/* ------------------------------------------------------------------------ */

type NativeOpen = (subkey: Uint8Array, iv: Uint8Array, header: Uint8Array, ct: Uint8Array, tag: Uint8Array) => Uint8Array | null;
type NativeSeal = (subkey: Uint8Array, iv: Uint8Array, header: Uint8Array, pt: Uint8Array, out: Uint8Array, outAt: number) => void;

interface NativeAead {
  open: NativeOpen;
  seal: NativeSeal;
}

function makeNative(): NativeAead | null {
  const c = nodeCrypto as Partial<typeof nodeCrypto>;
  if (typeof c.createCipheriv !== "function" || typeof c.createDecipheriv !== "function") return null;
  const createCipheriv = c.createCipheriv;
  const createDecipheriv = c.createDecipheriv;
  const native: NativeAead = {
    open(subkey, iv, header, ct, tag) {
      const d = createDecipheriv("chacha20-poly1305", subkey, iv, { authTagLength: TAG });
      d.setAAD(header, { plaintextLength: ct.length });
      d.setAuthTag(tag);
      const p = d.update(ct);
      try {
        d.final();
      } catch {
        return null;
      }
      return new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
    },
    seal(subkey, iv, header, pt, out, outAt) {
      const e = createCipheriv("chacha20-poly1305", subkey, iv, { authTagLength: TAG });
      e.setAAD(header, { plaintextLength: pt.length });
      const ct = e.update(pt);
      e.final();
      out.set(ct, outAt);
      out.set(e.getAuthTag(), outAt + pt.length);
    },
  };
  // Known-answer check against the portable code: the cipher must exist and agree.
  try {
    const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const t = new PortableSelfTest(key);
    if (!t.agreesWith(native)) return null;
  } catch {
    return null;
  }
  return native;
}

/* ------------------------------------------------------------------------ */
/* The codec                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * Ciphertext length from which "auto" uses the native back end (when present).
 * Chosen by measurement (bench/token.ts prints the per-runtime candidates);
 * see BENCHMARKS.md.
 */
export const NATIVE_MIN_CIPHERTEXT = 1024;

function keyWords(key: Uint8Array): Uint32Array {
  const w = new Uint32Array(8);
  for (let i = 0; i < 8; i++) w[i] = u32le(key, 4 * i);
  return w;
}

function subkeyBytes(): Uint8Array {
  const b = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const v = SUBKEY[i];
    b[4 * i] = v; b[4 * i + 1] = v >>> 8; b[4 * i + 2] = v >>> 16; b[4 * i + 3] = v >>> 24;
  }
  return b;
}

function ivBytes(nonce: Uint8Array, at: number): Uint8Array {
  const iv = new Uint8Array(12);
  iv.set(nonce.subarray(at + 16, at + 24), 4);
  return iv;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

class Codec implements Branca {
  readonly #key: Uint32Array;
  readonly #native: NativeAead | null;
  readonly #nativeMin: number;

  constructor(key: Uint8Array, native: NativeAead | null, nativeMin: number) {
    this.#key = keyWords(key);
    this.#native = native;
    this.#nativeMin = nativeMin;
  }

  decode(token: string, options?: BrancaOptions): Uint8Array {
    if (typeof token !== "string" || token.length === 0) throw new TokenError("missing", "no token");
    return this.decodeBinary(base62Decode(token) /* "malformed" */, options);
  }

  /** `decode` after the base62 step: `bin` is the token's bytes. */
  decodeBinary(bin: Uint8Array, options?: BrancaOptions): Uint8Array {
    const n = bin.length;
    if (n < MIN_LENGTH) throw new TokenError("too_short", `token is ${n} bytes, minimum is ${MIN_LENGTH}`);
    if (bin[0] !== VERSION) throw new TokenError("version", `unsupported token version 0x${bin[0].toString(16)}`);
    const timestamp = ((bin[1] << 24) | (bin[2] << 16) | (bin[3] << 8) | bin[4]) >>> 0;
    const ctLen = n - MIN_LENGTH;

    hchacha20(this.#key, bin, 5, SUBKEY);
    const native = this.#native;
    if (native !== null && ctLen >= this.#nativeMin) {
      const header = bin.subarray(0, HEADER);
      const out = native.open(subkeyBytes(), ivBytes(bin, 5), header, bin.subarray(HEADER, n - TAG), bin.subarray(n - TAG));
      if (out === null) throw forged();
      checkTtl(timestamp, options);
      return out;
    }

    const n1 = u32le(bin, 5 + 16);
    const n2 = u32le(bin, 5 + 20);
    aeadTag(n1, n2, bin, bin, HEADER, ctLen);
    if (!tagMatches(bin, n - TAG)) throw forged();
    checkTtl(timestamp, options);
    const out = new Uint8Array(ctLen);
    chacha20Xor(SUBKEY, n1, n2, bin, HEADER, ctLen, out, 0);
    return out;
  }

  encode(payload: Uint8Array, options?: { timestamp?: number; nonce?: Uint8Array }): string {
    if (!(payload instanceof Uint8Array)) throw new TypeError("payload must be a Uint8Array");
    const timestamp = options?.timestamp ?? nowSeconds();
    if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp > 0xffffffff) {
      throw new RangeError(`timestamp must be an integer in [0, 2^32 - 1], got ${timestamp}`);
    }
    let nonce = options?.nonce;
    if (nonce === undefined) {
      nonce = crypto.getRandomValues(new Uint8Array(NONCE));
    } else if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE) {
      throw new RangeError(`nonce must be ${NONCE} bytes`);
    }
    const len = payload.length;
    const bin = new Uint8Array(MIN_LENGTH + len);
    bin[0] = VERSION;
    bin[1] = timestamp >>> 24; bin[2] = timestamp >>> 16; bin[3] = timestamp >>> 8; bin[4] = timestamp;
    bin.set(nonce, 5);

    hchacha20(this.#key, bin, 5, SUBKEY);
    const native = this.#native;
    if (native !== null && len >= this.#nativeMin) {
      native.seal(subkeyBytes(), ivBytes(bin, 5), bin.subarray(0, HEADER), payload, bin, HEADER);
    } else {
      const n1 = u32le(bin, 5 + 16);
      const n2 = u32le(bin, 5 + 20);
      chacha20Xor(SUBKEY, n1, n2, payload, 0, len, bin, HEADER);
      aeadTag(n1, n2, bin, bin, HEADER, len);
      bin.set(TAGBUF, HEADER + len);
    }
    return base62Encode(bin);
  }
}

function forged(): TokenError {
  return new TokenError("forged", "token authentication failed");
}

function checkTtl(timestamp: number, options: BrancaOptions | undefined): void {
  const ttl = options?.ttl;
  if (ttl === undefined || ttl === 0) return;
  const now = options?.now ?? nowSeconds();
  // Same comparison as the reference implementations: valid while timestamp + ttl >= now.
  if (timestamp + ttl < now) throw new TokenError("expired", "token has expired");
}

/** Seals a fixed message with the portable code and checks the native back end agrees both ways. */
class PortableSelfTest {
  readonly #codec: Codec;
  readonly #key: Uint8Array;
  constructor(key: Uint8Array) {
    this.#key = key;
    this.#codec = new Codec(key, null, Infinity);
  }
  agreesWith(native: NativeAead): boolean {
    const nonce = new Uint8Array(NONCE).map((_, i) => 255 - i * 3);
    const payload = new Uint8Array(100).map((_, i) => i);
    const expected = base62Decode(this.#codec.encode(payload, { timestamp: 1234567890, nonce }));
    const nativeCodec = new Codec(this.#key, native, 0);
    const got = base62Decode(nativeCodec.encode(payload, { timestamp: 1234567890, nonce }));
    if (got.length !== expected.length) return false;
    for (let i = 0; i < got.length; i++) if (got[i] !== expected[i]) return false;
    const opened = nativeCodec.decode(base62Encode(expected));
    if (opened.length !== payload.length) return false;
    for (let i = 0; i < payload.length; i++) if (opened[i] !== payload[i]) return false;
    // A flipped tag bit must be rejected.
    expected[expected.length - 1] ^= 1;
    try {
      nativeCodec.decode(base62Encode(expected));
      return false;
    } catch (e) {
      return e instanceof TokenError && e.reason === "forged";
    }
  }
}

/**
 * The part of `decode` after base62: verifies and decrypts a token that is
 * already in binary form (same checks and reasons, except "missing" and
 * "malformed"). Used by the benchmark to time the AEAD step alone.
 */
export function decodeBinary(branca: Branca, bin: Uint8Array, options?: BrancaOptions): Uint8Array {
  if (!(branca instanceof Codec)) throw new TypeError("not a codec made by createBranca");
  return branca.decodeBinary(bin, options);
}

/** The native back end, or null if this runtime has no working node:crypto chacha20-poly1305. */
const NATIVE: NativeAead | null = makeNative();

/** Whether the runtime's node:crypto chacha20-poly1305 is present and passed the self-test. */
export const nativeAeadAvailable: boolean = NATIVE !== null;

/**
 * Creates a Branca codec for a 32-byte key. Throws a plain Error if the key is
 * not 32 bytes (or, with `aead: "native"`, if the runtime lacks it).
 */
export function createBranca(key: Uint8Array, options?: CreateBrancaOptions): Branca {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new Error(`Branca key must be 32 bytes, got ${got}`);
  }
  const mode = options?.aead ?? "auto";
  if (mode === "native") {
    if (NATIVE === null) throw new Error("node:crypto chacha20-poly1305 is not available on this runtime");
    return new Codec(key, NATIVE, 0);
  }
  if (mode === "portable") return new Codec(key, null, Infinity);
  return new Codec(key, NATIVE, NATIVE_MIN_CIPHERTEXT);
}
