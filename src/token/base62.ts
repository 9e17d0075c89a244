/**
 * Base62 codec for Branca tokens (alphabet `0-9A-Za-z`).
 *
 * Same mapping as base-x (which the reference `branca` package uses): the
 * bytes are read as one big-endian number written in base 62, and every
 * leading zero byte is written as one leading `'0'` character (and vice
 * versa). Because of that rule the mapping between strings over the alphabet
 * and byte strings is a bijection, so any change to a token's text changes
 * its bytes.
 *
 * base-x converts one character per pass over a byte array (quadratic, with
 * a JS inner loop whose every step waits on the previous carry). Here:
 *
 * - decode, up to 240 digits (tokens with payloads up to ~130 bytes):
 *   "product scanning" with 3-digit chunks and a precomputed table of
 *   62^(3i) in base 2^24 (see decodeSmall) - independent multiply-adds, one
 *   carry pass at the end;
 * - decode, longer: 8 digits at a time (62^8 < 2^48, exact in a float64)
 *   become BigInt leaves, combined pairwise in a balanced tree
 *   (hi * 62^(8 * 2^k) + lo), so the engine's native big multiplications do
 *   the work; the result is printed in hex (linear) and parsed into bytes;
 * - encode: bytes -> hex -> BigInt, then split recursively by
 *   62^(8 * 2^k) (balanced divisions) down to 8-digit leaves.
 *
 * Alternatives measured on Bun, Node and Deno and dropped as slower: Horner
 * with 3-digit chunks into 32-bit limbs, 4-digit chunks into 24-bit float
 * limbs, 2-digit chunks into 16-bit int limbs (all latency-bound on the carry
 * chain), and a left-to-right BigInt accumulator (quadratic for long input).
 *
 * The work is still superlinear in the token length, so callers should bound
 * the length of untrusted input before decoding it.
 */

/** Why a token was rejected. */
export type TokenRejection = "missing" | "malformed" | "version" | "too_short" | "forged" | "expired";

/**
 * The error thrown for any rejected token. Defined here (the lowest module of
 * the token code, so that there is no import cycle) and re-exported by
 * `branca.ts`.
 */
export class TokenError extends Error {
  readonly reason: TokenRejection;
  constructor(reason: TokenRejection, message?: string) {
    super(message ?? `invalid token: ${reason}`);
    this.name = "TokenError";
    this.reason = reason;
  }
}

export const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** char code (< 128) -> digit value, or -1 for characters outside the alphabet. */
const DIGIT = new Int8Array(128).fill(-1);
/** digit value -> char code. */
const CHAR = new Uint8Array(62);
for (let i = 0; i < 62; i++) {
  const code = BASE62_ALPHABET.charCodeAt(i);
  DIGIT[code] = i;
  CHAR[i] = code;
}

const ZERO_CHAR = 48; // '0'
/** 62^8 < 2^48: eight base62 digits always fit a float64 integer exactly. */
const DIGITS_PER_LEAF = 8;
const LEAF_N = 218340105584896n;
/** POW[k] = 62^(8 * 2^k), grown on demand. */
const POW: bigint[] = [LEAF_N];
function pow(k: number): bigint {
  while (POW.length <= k) POW.push(POW[POW.length - 1] * POW[POW.length - 1]);
  return POW[k];
}

const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 16; i++) HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;
const HEX_PAIR: string[] = [];
for (let i = 0; i < 256; i++) HEX_PAIR.push((i < 16 ? "0" : "") + i.toString(16));

/*
 * Short inputs (the common case: a token with a ~50-byte payload is ~130
 * characters) use "product scanning" instead of BigInt: with 3-digit chunks
 * c_i (counted from the least significant end) and precomputed powers
 * 62^(3i) in base 2^24, the result's limbs are r_k = sum_i c_i * P_i[k],
 * accumulated without carries (each product < 2^42, at most SMALL_CHUNKS of
 * them per limb, so every sum stays an exact float64 integer), then carried
 * once. Unlike Horner's rule (acc = acc * 62^3 + c) no step waits for the
 * previous one's carry, so the loop runs at multiply-add throughput instead
 * of floating-point latency.
 */
const SMALL_MAX_DIGITS = 240;
const SMALL_CHUNKS = SMALL_MAX_DIGITS / 3; // 80: sums < 80 * 2^42 < 2^49
const T24 = 16777216;
const INV24 = 1 / 16777216;
/** Limbs of 62^(3i) are P_LIMBS[P_OFFSET[i] .. P_OFFSET[i + 1]), little-endian base 2^24. */
const P_OFFSET = new Int32Array(SMALL_CHUNKS + 1);
const P_LIMBS: Float64Array = (() => {
  const all: number[] = [];
  let cur = [1];
  for (let i = 0; i < SMALL_CHUNKS; i++) {
    P_OFFSET[i] = all.length;
    for (const limb of cur) all.push(limb);
    const next: number[] = [];
    let carry = 0;
    for (const limb of cur) {
      const x = limb * 238328 + carry;
      carry = Math.floor(x / T24);
      next.push(x - carry * T24);
    }
    while (carry > 0) {
      next.push(carry % T24);
      carry = Math.floor(carry / T24);
    }
    cur = next;
  }
  P_OFFSET[SMALL_CHUNKS] = all.length;
  return Float64Array.from(all);
})();
const smallAcc = new Float64Array(Math.ceil((SMALL_MAX_DIGITS * 5.954196310386876) / 24) + 2);

/** Decodes text[zeros ..] (1 to SMALL_MAX_DIGITS digits, the first non-zero). */
function decodeSmall(text: string, zeros: number): Uint8Array {
  const n = text.length;
  const r = smallAcc;
  const rl = Math.ceil(((n - zeros) * 5.954196310386876) / 24) + 1;
  for (let k = 0; k < rl; k++) r[k] = 0;
  let end = n;
  for (let i = 0; end > zeros; i++) {
    const start = end - 3 > zeros ? end - 3 : zeros;
    let v = 0;
    for (let q = start; q < end; q++) {
      const c = text.charCodeAt(q);
      const d = c < 128 ? DIGIT[c] : -1;
      if (d < 0) throw malformed(text, q);
      v = v * 62 + d;
    }
    end = start;
    if (v !== 0) {
      const e = P_OFFSET[i + 1];
      for (let k = 0, p = P_OFFSET[i]; p < e; k++, p++) r[k] += v * P_LIMBS[p];
    }
  }
  let carry = 0;
  let len = 0;
  for (let k = 0; k < rl; k++) {
    const x = r[k] + carry;
    carry = Math.floor(x * INV24);
    const limb = x - carry * T24;
    r[k] = limb;
    if (limb !== 0) len = k + 1;
  }
  const t = r[len - 1]; // len >= 1: the value is non-zero
  const top = t > 0xffff ? 3 : t > 0xff ? 2 : 1;
  const size = zeros + (len - 1) * 3 + top;
  const out = new Uint8Array(size); // leading zero bytes are already 0
  let p = size;
  for (let j = 0; j < len - 1; j++) {
    const w = r[j];
    out[--p] = w;
    out[--p] = w >>> 8;
    out[--p] = w >>> 16;
  }
  let w = t;
  for (let k = 0; k < top; k++) {
    out[--p] = w;
    w >>>= 8;
  }
  return out;
}

function malformed(text: string, index: number): TokenError {
  return new TokenError("malformed", `invalid base62 character at index ${index} of ${text.length}`);
}

/**
 * Decodes base62 text. Throws `TokenError("malformed")` for empty input and for
 * any character outside `0-9A-Za-z` (including whitespace, `+/=-_` and any
 * non-ASCII character).
 */
export function base62Decode(text: string): Uint8Array {
  const n = text.length;
  if (n === 0) throw new TokenError("malformed", "empty base62 input");

  let zeros = 0;
  while (zeros < n && text.charCodeAt(zeros) === ZERO_CHAR) zeros++;
  if (zeros === n) return new Uint8Array(zeros);
  if (n - zeros <= SMALL_MAX_DIGITS) return decodeSmall(text, zeros);

  // 8 digits per leaf, the first (most significant) leaf takes the remainder.
  let level: bigint[] = [];
  let i = zeros;
  let take = (n - zeros) % DIGITS_PER_LEAF || DIGITS_PER_LEAF;
  while (i < n) {
    let v = 0;
    const end = i + take;
    for (; i < end; i++) {
      const c = text.charCodeAt(i);
      const d = c < 128 ? DIGIT[c] : -1;
      if (d < 0) throw malformed(text, i);
      v = v * 62 + d;
    }
    level.push(BigInt(v));
    take = DIGITS_PER_LEAF;
  }

  // Combine neighbours pairwise: every element but the first covers exactly
  // 8 * 2^k digits at round k, so (hi, lo) -> hi * 62^(8 * 2^k) + lo.
  for (let k = 0; level.length > 1; k++) {
    const p = pow(k);
    const len = level.length;
    const next: bigint[] = [];
    let j = len & 1;
    if (j === 1) next.push(level[0]);
    for (; j < len; j += 2) next.push(level[j] * p + level[j + 1]);
    level = next;
  }

  // Big-endian bytes via hex (linear in the engine's BigInt printer).
  const hex = level[0].toString(16);
  const hl = hex.length;
  const out = new Uint8Array(zeros + ((hl + 1) >> 1)); // leading zero bytes are already 0
  let p = zeros;
  let h = 0;
  if ((hl & 1) === 1) {
    out[p++] = HEX_VALUE[hex.charCodeAt(0)];
    h = 1;
  }
  for (; h < hl; h += 2) out[p++] = (HEX_VALUE[hex.charCodeAt(h)] << 4) | HEX_VALUE[hex.charCodeAt(h + 1)];
  return out;
}

let charScratch = new Uint8Array(1024);

/** Encodes bytes as base62 text (leading zero bytes become leading `'0'`s). */
export function base62Encode(bytes: Uint8Array): string {
  const n = bytes.length;
  let zeros = 0;
  while (zeros < n && bytes[zeros] === 0) zeros++;
  if (zeros === n) return "0".repeat(zeros);

  let hex = "";
  for (let i = zeros; i < n; i++) hex += HEX_PAIR[bytes[i]];
  const value = BigInt("0x" + hex);

  // Smallest k with value < 62^(8 * 2^k); then write exactly 8 * 2^k digits
  // (zero-padded) by splitting on 62^(8 * 2^(k-1)), 62^(8 * 2^(k-2)), ...
  let k = 0;
  while (value >= pow(k)) k++;
  const width = DIGITS_PER_LEAF << k;
  if (charScratch.length < width) charScratch = new Uint8Array(Math.max(width, charScratch.length * 2));
  const out = charScratch;
  writeDigits(value, k, out, 0);
  let q = 0;
  while (out[q] === ZERO_CHAR) q++; // value > 0, so this stops
  let s = zeros > 0 ? "0".repeat(zeros) : "";
  if (width - q <= 64) {
    for (let i = q; i < width; i++) s += String.fromCharCode(out[i]);
    return s;
  }
  return s + decoder.decode(out.subarray(q, width));
}

/** Writes `v` (< 62^(8 * 2^k)) as exactly 8 * 2^k digits at out[at ..]. */
function writeDigits(v: bigint, k: number, out: Uint8Array, at: number): void {
  if (k === 0) {
    let x = Number(v);
    for (let i = at + DIGITS_PER_LEAF - 1; i >= at; i--) {
      const q = Math.floor(x / 62);
      out[i] = CHAR[x - q * 62];
      x = q;
    }
    return;
  }
  const p = pow(k - 1);
  writeDigits(v / p, k - 1, out, at);
  writeDigits(v % p, k - 1, out, at + (DIGITS_PER_LEAF << (k - 1)));
}

const decoder = new TextDecoder();
