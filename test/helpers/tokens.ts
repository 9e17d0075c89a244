/**
 * Mints tokens the way backends of the original server do, with an encoder independent
 * of ours: the `branca` npm package (its own, older asm.js build of libsodium, which is
 * ready as soon as it is loaded) and `@msgpack/msgpack`.
 */
import { encode } from "@msgpack/msgpack";
import createReferenceBranca from "branca";
import baseX from "base-x";

export const SECRET_HEX = "7ff8e5d9a6c0b1e3d4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091";
export const OTHER_SECRET_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

export interface MintOptions {
  /** Unix seconds to stamp into the token (default: now). */
  readonly timestamp?: number;
  readonly secretHex?: string;
}

/** Seals raw payload bytes into a Branca token. */
export function seal(payload: Uint8Array, options: MintOptions = {}): string {
  const branca = createReferenceBranca(Buffer.from(options.secretHex ?? SECRET_HEX, "hex"));
  return branca.encode(Buffer.from(payload), options.timestamp);
}

/** msgpack of `value`, sealed: a map stays a map, an array stays an array (rmp_serde form). */
export function mint(value: unknown, options: MintOptions = {}): string {
  return seal(encode(value), options);
}

export const subscribeToken = (topics: readonly string[], options?: MintOptions) =>
  mint({ topics }, options);

/** A subscribe token with prefix grants, in map form `{topics, prefixes}`. */
export const prefixToken = (topics: readonly string[], prefixes: readonly string[], options?: MintOptions) =>
  mint({ topics, prefixes }, options);

/** A presence query: `{presence: [topics]}`. */
export const presenceToken = (topics: readonly string[], options?: MintOptions) => mint({ presence: topics }, options);

/** A token for the live dashboard (`GET dashboard` and its data routes). */
export const dashboardToken = (options?: MintOptions) => mint({ dashboard: true }, options);

export interface TestEvent {
  readonly topic: string;
  readonly event: string;
  readonly data: string;
}

export const submitToken = (events: readonly TestEvent[], options?: MintOptions) =>
  mint({ events }, options);

/** rmp_serde::to_vec form: structs as positional arrays. */
export const submitTokenArrayForm = (events: readonly TestEvent[]) =>
  mint([events.map((e) => [e.topic, e.event, e.data])]);

const utf8 = new TextEncoder();

/** Python's `msgpack.packb` with values given as `bytes`: str keys, bin values. */
export const submitTokenBinValues = (events: readonly TestEvent[]) =>
  mint({
    events: events.map((e) => ({
      topic: utf8.encode(e.topic),
      event: utf8.encode(e.event),
      data: utf8.encode(e.data),
    })),
  });

/**
 * msgpack as written before the str/bin split (Python msgpack < 1.0 by default): every
 * string is "raw" — fixraw, raw16 or raw32, never str8 (0xd9), which did not exist yet.
 */
export function encodeOldStyle(value: unknown): Uint8Array {
  const out: number[] = [];
  const u16 = (n: number) => out.push(n >> 8, n & 0xff);
  const u32 = (n: number) => out.push(n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  const write = (v: unknown): void => {
    if (typeof v === "string") {
      const bytes = utf8.encode(v);
      if (bytes.length < 32) out.push(0xa0 | bytes.length);
      else if (bytes.length < 0x10000) (out.push(0xda), u16(bytes.length));
      else (out.push(0xdb), u32(bytes.length));
      out.push(...bytes);
    } else if (Array.isArray(v)) {
      if (v.length < 16) out.push(0x90 | v.length);
      else (out.push(0xdc), u16(v.length));
      v.forEach(write);
    } else if (v !== null && typeof v === "object") {
      const entries = Object.entries(v);
      if (entries.length < 16) out.push(0x80 | entries.length);
      else (out.push(0xde), u16(entries.length));
      for (const [k, item] of entries) (write(k), write(item));
    } else {
      throw new Error(`encodeOldStyle: unsupported ${typeof v}`);
    }
  };
  write(value);
  return Uint8Array.from(out);
}

/** A map whose keys go out as bin, as Python's msgpack writes `bytes` keys. */
export class BinKeyMap {
  constructor(readonly entries: readonly (readonly [string, unknown])[]) {}
}

/**
 * msgpack of `value` by `@msgpack/msgpack`, except that BinKeyMaps (and the arrays and
 * plain objects around them) are written here, with bin keys: `@msgpack/msgpack` writes str keys only.
 */
export function encodeWithBinKeys(value: unknown): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = (fix: number, tag16: number, length: number) =>
    parts.push(Uint8Array.from(length < 16 ? [fix | length] : [tag16, length >> 8, length & 0xff]));
  const write = (v: unknown): void => {
    if (!hasBinKeyMap(v)) {
      parts.push(encode(v));
    } else if (v instanceof BinKeyMap) {
      header(0x80, 0xde, v.entries.length);
      for (const [key, item] of v.entries) (parts.push(encode(utf8.encode(key))), write(item));
    } else if (Array.isArray(v)) {
      header(0x90, 0xdc, v.length);
      for (let i = 0; i < v.length; i++) write(v[i]);
    } else {
      const entries = Object.entries(v as object);
      header(0x80, 0xde, entries.length);
      for (const [key, item] of entries) (parts.push(encode(key)), write(item));
    }
  };
  write(value);
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  parts.reduce((offset, part) => (out.set(part, offset), offset + part.length), 0);
  return out;
}

function hasBinKeyMap(v: unknown): boolean {
  if (v instanceof BinKeyMap) return true;
  if (Array.isArray(v)) return v.some(hasBinKeyMap);
  return v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype && Object.values(v).some(hasBinKeyMap);
}

/** The reference base62 (base-x, as the `branca` package uses it). */
export const referenceBase62 = baseX("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

/** Decodes a token, lets `change` alter its bytes, and re-encodes it. */
export function tamper(token: string, change: (bytes: Uint8Array) => Uint8Array | void): string {
  const bytes = Uint8Array.from(referenceBase62.decode(token));
  return referenceBase62.encode(change(bytes) ?? bytes);
}

/** Random base62 text: decodes as a number in full, then fails authentication. */
export function randomBase62(length: number): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let text = alphabet[1 + Math.floor(Math.random() * 61)]!; // no leading zero byte
  for (let i = 1; i < length; i++) text += alphabet[Math.floor(Math.random() * 62)]!;
  return text;
}
