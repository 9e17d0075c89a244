/**
 * Poly1305 as the RFC 8439 text states it, in BigInt arithmetic: slow and obviously
 * right, for TESTS ONLY (building inputs whose accumulator lands on an edge and checking
 * a library's tags); never used by src/. The keystream comes from @noble/ciphers, which is
 * independent of the libsodium build under test.
 */
import { xchacha20 } from "@noble/ciphers/chacha.js";

export const P = (1n << 130n) - 5n;
const CLAMP = 0x0ffffffc0ffffffc0ffffffc0fffffffn;

export function leToBigInt(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  return x;
}

export function bigIntToLe(x: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++, x >>= 8n) out[i] = Number(x & 0xffn);
  return out;
}

/** The message's blocks as numbers, each with its 2^(8 * length) bit set. */
export function polyBlocks(msg: Uint8Array): bigint[] {
  const blocks: bigint[] = [];
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, i + 16);
    blocks.push(leToBigInt(block) + (1n << BigInt(8 * block.length)));
  }
  return blocks;
}

/** The accumulator after the last block, fully reduced mod p (before s is added). */
export function polyAccumulator(r: bigint, blocks: readonly bigint[]): bigint {
  let h = 0n;
  for (const c of blocks) h = ((h + c) * r) % P;
  return h;
}

export function clampR(key: Uint8Array): bigint {
  return leToBigInt(key.subarray(0, 16)) & CLAMP;
}

export function poly1305(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const h = polyAccumulator(clampR(key), polyBlocks(msg));
  return bigIntToLe((h + leToBigInt(key.subarray(16, 32))) % (1n << 128n), 16);
}

/** XChaCha20-Poly1305's one-time Poly1305 key: the first 32 bytes of keystream block 0. */
export function xchachaPolyKey(key: Uint8Array, nonce: Uint8Array): Uint8Array {
  return xchacha20(key, nonce, new Uint8Array(32), undefined, 0);
}

/** The AEAD's Poly1305 input: ad || pad16 || ct || pad16 || le64(|ad|) || le64(|ct|). */
export function aeadMacInput(ad: Uint8Array, ct: Uint8Array): Uint8Array {
  const pad = (n: number) => (16 - (n % 16)) % 16;
  const adEnd = ad.length + pad(ad.length);
  const ctEnd = adEnd + ct.length + pad(ct.length);
  const out = new Uint8Array(ctEnd + 16);
  out.set(ad);
  out.set(ct, adEnd);
  out.set(bigIntToLe(BigInt(ad.length), 8), ctEnd);
  out.set(bigIntToLe(BigInt(ct.length), 8), ctEnd + 8);
  return out;
}

export function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1] = [((a % m) + m) % m, m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new Error("not invertible");
  return ((s0 % m) + m) % m;
}

export function modPow(base: bigint, exponent: bigint, m: bigint = P): bigint {
  let result = 1n;
  for (let b = base % m, e = exponent; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) result = (result * b) % m;
  return result;
}
