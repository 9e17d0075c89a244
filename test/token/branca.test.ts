import { describe, test, expect, beforeAll } from "bun:test";
import fc from "fast-check";
// Both are untyped CommonJS packages (`branca` and its dependency); typed below.
// @ts-ignore -- no type declarations
import brancaFactory from "branca";
// @ts-ignore -- no type declarations
import sodiumModule from "libsodium-wrappers";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { base62Decode, base62Encode } from "../../src/token/base62.ts";
import {
  createBranca,
  nativeAeadAvailable,
  NATIVE_MIN_CIPHERTEXT,
  TokenError,
  type Branca,
  type TokenRejection,
} from "../../src/token/branca.ts";

/** The old CommonJS `branca` package (libsodium + base-x), our reference. */
interface ReferenceBranca {
  _nonce: Uint8Array | null;
  encode(message: Uint8Array, timestamp?: number): string;
  decode(token: string, ttl?: number): Uint8Array;
}
function reference(key: Uint8Array, nonce?: Uint8Array): ReferenceBranca {
  const r = (brancaFactory as unknown as (key: Uint8Array) => ReferenceBranca)(Buffer.from(key));
  if (nonce) r._nonce = Buffer.from(nonce); // the package's own unit-test hook for a fixed nonce
  return r;
}

interface Sodium {
  ready: Promise<void>;
  crypto_aead_xchacha20poly1305_ietf_encrypt(m: Uint8Array, ad: Uint8Array, nsec: null, npub: Uint8Array, key: Uint8Array): Uint8Array;
}
const sodium = sodiumModule as Sodium;

/** Every back end this runtime has, for tests that must hold for all of them. */
const BACKENDS = (nativeAeadAvailable ? ["auto", "portable", "native"] : ["auto", "portable"]) as Array<"auto" | "portable" | "native">;

const enc = new TextEncoder();
const hex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
const bytes = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65_536) crypto.getRandomValues(b.subarray(i, i + 65_536));
  return b;
};

function rejection(fn: () => unknown): TokenRejection | "no error" | "other error" {
  try {
    fn();
    return "no error";
  } catch (e) {
    return e instanceof TokenError ? e.reason : "other error";
  }
}

beforeAll(async () => {
  await sodium.ready; // libsodium-wrappers (used by `branca`) initialises asynchronously
});

// Acceptance test vectors from https://github.com/tuupola/branca-spec (test_vectors.json).
const SPEC_KEY = "supersecretkeyyoushouldnotcommit";
const BEEF = "beefbeefbeefbeefbeefbeefbeefbeefbeefbeefbeefbeef";
const VALID_VECTORS: Array<{ timestamp: number; token: string; msg: string }> = [
  { timestamp: 123206400, token: "K9u6d0zjXp8RXNUGDyXAsB9AtPo60CD3xxQ2ulL8aQoTzXbvockRff0y1eXoHm", msg: "80" },
  { timestamp: 0, token: "4sfD0vPFhIif8cy4nB3BQkHeJqkOkDvinI4zIhMjYX4YXZU5WIq9ycCVjGzB5", msg: "" },
  { timestamp: 0, token: "870S4BYxgHw0KnP3W9fgVUHEhT5g86vJ17etaC5Kh5uIraWHCI1psNQGv298ZmjPwoYbjDQ9chy2z", msg: "48656c6c6f20776f726c6421" },
  { timestamp: 4294967295, token: "89i7YCwu5tWAJNHUDdmIqhzOi5hVHOd4afjZcGMcVmM4enl4yeLiDyYv41eMkNmTX6IwYEFErCSqr", msg: "48656c6c6f20776f726c6421" },
  { timestamp: 123206400, token: "875GH23U0Dr6nHFA63DhOyd9LkYudBkX8RsCTOMz5xoYAMw9sMd5QwcEqLDRnTDHPenOX7nP2trlT", msg: "48656c6c6f20776f726c6421" },
  { timestamp: 0, token: "1jIBheHbDdkCDFQmtgw4RUZeQoOJgGwTFJSpwOAk3XYpJJr52DEpILLmmwYl4tjdSbbNqcF1", msg: "0000000000000000" },
  { timestamp: 4294967295, token: "1jrx6DUu5q06oxykef2e2ZMyTcDRTQot9ZnwgifUtzAphGtjsxfbxXNhQyBEOGtpbkBgvIQx", msg: "0000000000000000" },
  { timestamp: 123206400, token: "1jJDJOEjuwVb9Csz1Ypw1KBWSkr0YDpeBeJN6NzJWx1VgPLmcBhu2SbkpQ9JjZ3nfUf7Aytp", msg: "0000000000000000" },
];
const INVALID_VECTORS: Array<{ comment: string; key?: string; token: string; reason: TokenRejection }> = [
  { comment: "created with version 0xBB", token: "89mvl3RkwXjpEj5WMxK7GUDEHEeeeZtwjMIOogTthvr44qBfYtQSIZH5MHOTC0GzoutDIeoPVZk3w", reason: "version" },
  { comment: "invalid base62", token: "875GH23U0Dr6nHFA63DhOyd9LkYudBkX8RsCTOMz5xoYAMw9sMd5QwcEqLDRnTDHPenOX7nP2trlT_", reason: "malformed" },
  { comment: "modified version", token: "89i7YCx9usiQoaTtdaibIQ7goaYbRkXRDRAoEcg3g99OwFaKlb1kyo25vCzJZEzmT7tzFTqYV9xhM", reason: "version" },
  { comment: "modified nonce", token: "875GH233SUysT7fQ711EWd9BXpwOjB72ng3ZLnjWFrmOqVy49Bv93b78JU5331LbcY0EEzhLfpmSx", reason: "forged" },
  { comment: "modified timestamp", token: "870g1RCk4lW1YInhaU3TP8u2hGtfol16ettLcTOSoA0JIpjCaQRW7tQeP6dQmTvFIB2s6wL5deMXr", reason: "forged" },
  { comment: "modified ciphertext", token: "875GH23U0Dr6nHFA63DhOyd9LkYudBkX8RsCTOMz5xoYAMw9sMd5Qw6Jpo96myliI3hHD7VbKZBYh", reason: "forged" },
  { comment: "modified tag", token: "875GH23U0Dr6nHFA63DhOyd9LkYudBkX8RsCTOMz5xoYAMw9sMd5QwcEqLDRnTDHPenOX7nP2trk0", reason: "forged" },
  { comment: "wrong key", key: "wrongsecretkeyyoushouldnotcommit", token: "870S4BYxgHw0KnP3W9fgVUHEhT5g86vJ17etaC5Kh5uIraWHCI1psNQGv298ZmjPwoYbjDQ9chy2z", reason: "forged" },
];

describe("spec test vectors", () => {
  for (const backend of BACKENDS) {
    test(`valid vectors encode and decode (${backend})`, () => {
      const b = createBranca(enc.encode(SPEC_KEY), { aead: backend });
      for (const v of VALID_VECTORS) {
        expect(b.encode(hex(v.msg), { timestamp: v.timestamp, nonce: hex(BEEF) })).toBe(v.token);
        expect(b.decode(v.token)).toEqual(hex(v.msg));
      }
    });
    test(`invalid vectors are rejected with the right reason (${backend})`, () => {
      for (const v of INVALID_VECTORS) {
        const b = createBranca(enc.encode(v.key ?? SPEC_KEY), { aead: backend });
        expect([v.comment, rejection(() => b.decode(v.token))]).toEqual([v.comment, v.reason]);
      }
    });
  }
  test("a key that is not 32 bytes is refused with a plain Error", () => {
    for (const n of [0, 11, 31, 33, 64]) {
      expect(() => createBranca(new Uint8Array(n))).toThrow(Error);
      expect(rejection(() => createBranca(new Uint8Array(n)))).toBe("other error");
    }
    expect(() => createBranca(enc.encode("tooshortkey"))).toThrow("32 bytes");
  });
});

describe("same tokens as the branca package", () => {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const nonce = fc.uint8Array({ minLength: 24, maxLength: 24 });
  const timestamp = fc.oneof(fc.constantFrom(0, 1, 0xffffffff), fc.nat({ max: 0xffffffff }));

  // The package's base-x codec is quadratic (about 10 ms per 2 KB token and
  // ~10 s per 64 KB one), so it is compared on payloads up to 4 KB ...
  test("identical tokens for the same nonce and timestamp, and each decodes the other's (0 B - 4 KB)", () => {
    const payload = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 64, size: "max" }),
      fc.uint8Array({ minLength: 0, maxLength: 600, size: "max" }),
      fc.uint8Array({ minLength: 0, maxLength: 4096, size: "max" }),
    );
    fc.assert(
      fc.property(key, nonce, timestamp, payload, fc.constantFrom(...BACKENDS), (k, n, ts, p, backend) => {
        const ref = reference(k, n);
        const ours = createBranca(k, { aead: backend });
        const theirs = ref.encode(Buffer.from(p), ts);
        const mine = ours.encode(p, { timestamp: ts, nonce: n });
        expect(mine).toBe(theirs);
        expect(ours.decode(theirs)).toEqual(p);
        expect(new Uint8Array(ref.decode(mine))).toEqual(p);
      }),
      { numRuns: 60 },
    );
  });

  // ... and up to 64 KB against the package's own primitive (libsodium's
  // XChaCha20-Poly1305, which `branca` calls) plus our base62 round trip.
  test("identical sealed bytes to libsodium for payloads up to 64 KB", () => {
    fc.assert(
      fc.property(key, nonce, timestamp, fc.nat({ max: 65_536 }), fc.constantFrom(...BACKENDS), (k, n, ts, size, backend) => {
        const p = bytes(size);
        const header = new Uint8Array(29);
        header[0] = 0xba;
        new DataView(header.buffer).setUint32(1, ts);
        header.set(n, 5);
        const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(p, header, null, n, k);
        const ours = createBranca(k, { aead: backend });
        const token = ours.encode(p, { timestamp: ts, nonce: n });
        const bin = base62Decode(token);
        expect(bin.subarray(0, 29)).toEqual(header);
        expect(bin.subarray(29)).toEqual(sealed);
        const expected = new Uint8Array(29 + sealed.length);
        expected.set(header);
        expected.set(sealed, 29);
        expect(ours.decode(base62Encode(expected))).toEqual(p);
      }),
      { numRuns: 8 },
    );
  });
});

describe("rejections", () => {
  const key = bytes(32);
  const NOW = 1_700_000_000;

  for (const backend of BACKENDS) {
    const b = createBranca(key, { aead: backend });

    test(`reasons (${backend})`, () => {
      const token = b.encode(enc.encode("hello"), { timestamp: NOW });
      expect(new TextDecoder().decode(b.decode(token))).toBe("hello");
      expect(rejection(() => b.decode(""))).toBe("missing");
      expect(rejection(() => b.decode(undefined as unknown as string))).toBe("missing");
      expect(rejection(() => b.decode(token + "!"))).toBe("malformed");
      expect(rejection(() => b.decode(token.slice(0, 10) + " " + token.slice(10)))).toBe("malformed");
      expect(rejection(() => createBranca(bytes(32), { aead: backend }).decode(token))).toBe("forged");
      expect(rejection(() => b.decode(token, { ttl: 60, now: NOW + 61 }))).toBe("expired");
      // 44 bytes (one short of header + tag), even with a correct version byte
      const short = new Uint8Array(44);
      short[0] = 0xba;
      expect(rejection(() => b.decode(base62Encode(short)))).toBe("too_short");
      expect(rejection(() => b.decode("1"))).toBe("too_short");
      // 45 bytes with the right version: only the tag can fail
      const min = new Uint8Array(45);
      min[0] = 0xba;
      expect(rejection(() => b.decode(base62Encode(min)))).toBe("forged");
      // wrong version byte
      const bin = base62Decode(token);
      bin[0] = 0xbb;
      expect(rejection(() => b.decode(base62Encode(bin)))).toBe("version");
      bin[0] = 0;
      expect(rejection(() => b.decode(base62Encode(bin)))).toBe("version"); // leading '0' char
    });

    test(`checks in order: malformed, too_short, version, then tag before TTL (${backend})`, () => {
      const short = new Uint8Array(44);
      short[0] = 0xbb; // wrong version and too short -> too_short is checked first
      expect(rejection(() => b.decode(base62Encode(short)))).toBe("too_short");
      // a forged token with an old timestamp: the timestamp is unauthenticated, so "forged"
      const bin = base62Decode(b.encode(bytes(20), { timestamp: 1000 }));
      bin[bin.length - 1] ^= 1;
      expect(rejection(() => b.decode(base62Encode(bin), { ttl: 60, now: NOW }))).toBe("forged");
      // version is checked before the tag
      bin[0] = 0xbc;
      expect(rejection(() => b.decode(base62Encode(bin), { ttl: 60, now: NOW }))).toBe("version");
      // genuine but old -> expired
      const old = b.encode(bytes(20), { timestamp: 1000 });
      expect(rejection(() => b.decode(old, { ttl: 60, now: NOW }))).toBe("expired");
    });

    test(`TTL boundary: valid while timestamp + ttl >= now, like the reference (${backend})`, () => {
      const ts = NOW - 3600;
      const token = b.encode(enc.encode("x"), { timestamp: ts });
      expect(rejection(() => b.decode(token, { ttl: 3600, now: NOW - 1 }))).toBe("no error");
      expect(rejection(() => b.decode(token, { ttl: 3600, now: NOW }))).toBe("no error");
      expect(rejection(() => b.decode(token, { ttl: 3600, now: NOW + 1 }))).toBe("expired");
      expect(rejection(() => b.decode(token, { ttl: 0, now: NOW + 1e9 }))).toBe("no error");
      expect(rejection(() => b.decode(token, { now: NOW + 1e9 }))).toBe("no error");
      expect(rejection(() => b.decode(token, { ttl: 60 }))).toBe("expired"); // real clock
      // future timestamps are not rejected (neither does the spec nor the reference)
      expect(rejection(() => b.decode(token, { ttl: 60, now: ts - 1000 }))).toBe("no error");
    });
  }

  test("TTL boundary matches the branca package (its clock mocked)", () => {
    const ts = NOW - 3600;
    const token = createBranca(key).encode(enc.encode("x"), { timestamp: ts });
    const ref = reference(key);
    const realNow = Date.now;
    try {
      for (const now of [NOW - 1, NOW, NOW + 1]) {
        Date.now = () => now * 1000;
        const theirs = rejection(() => ref.decode(token, 3600)) === "no error" ? "no error" : "expired";
        expect([now, rejection(() => createBranca(key).decode(token, { ttl: 3600, now }))]).toEqual([now, theirs]);
      }
    } finally {
      Date.now = realNow;
    }
  });

  test("every single-character change and every truncation of a valid token is rejected", () => {
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (const size of [0, 20]) {
      for (const backend of BACKENDS) {
        const b = createBranca(key, { aead: backend });
        const token = b.encode(bytes(size), { timestamp: NOW });
        expect(b.decode(token, { ttl: 60, now: NOW })).toHaveLength(size);
        for (let i = 0; i < token.length; i++) {
          for (const c of alphabet + "+/=_- é") {
            if (c === token[i]) continue;
            const changed = token.slice(0, i) + c + token.slice(i + 1);
            const r = rejection(() => b.decode(changed, { ttl: 60, now: NOW }));
            if (r === "no error" || r === "other error") throw new Error(`accepted ${changed} (${r})`);
          }
        }
        for (let n = 0; n < token.length; n++) {
          const r = rejection(() => b.decode(token.slice(0, n), { ttl: 60, now: NOW }));
          if (r === "no error" || r === "other error") throw new Error(`accepted truncation to ${n} (${r})`);
        }
        // also dropping characters from the front
        for (let n = 1; n < token.length; n++) {
          expect(rejection(() => b.decode(token.slice(n)))).not.toBe("no error");
        }
      }
    }
  });

  test("encode validates its options", () => {
    const b = createBranca(key);
    expect(() => b.encode(new Uint8Array(1), { timestamp: -1 })).toThrow(RangeError);
    expect(() => b.encode(new Uint8Array(1), { timestamp: 2 ** 32 })).toThrow(RangeError);
    expect(() => b.encode(new Uint8Array(1), { timestamp: 1.5 })).toThrow(RangeError);
    expect(() => b.encode(new Uint8Array(1), { nonce: new Uint8Array(23) })).toThrow(RangeError);
    // random nonces: two encodings of the same payload differ, both decode
    const t1 = b.encode(enc.encode("same"));
    const t2 = b.encode(enc.encode("same"));
    expect(t1).not.toBe(t2);
    expect(b.decode(t1, { ttl: 60 })).toEqual(b.decode(t2, { ttl: 60 }));
  });

  test("the codec keeps its own copy of the key", () => {
    const k = bytes(32);
    const b = createBranca(k);
    const token = b.encode(enc.encode("x"));
    k.fill(0);
    expect(new TextDecoder().decode(b.decode(token))).toBe("x");
  });
});

describe("AEAD back ends", () => {
  test(`"auto" crosses from portable to native at ${NATIVE_MIN_CIPHERTEXT} bytes and both agree`, () => {
    const k = bytes(32);
    const n = bytes(24);
    const backends: Branca[] = BACKENDS.map((aead) => createBranca(k, { aead }));
    for (const size of [0, 1, 15, 16, 17, 63, 64, 65, NATIVE_MIN_CIPHERTEXT - 1, NATIVE_MIN_CIPHERTEXT, NATIVE_MIN_CIPHERTEXT + 1, 5000]) {
      const p = bytes(size);
      const tokens = backends.map((b) => b.encode(p, { timestamp: 77, nonce: n }));
      for (const t of tokens) expect(t).toBe(tokens[0]);
      for (const b of backends) expect(b.decode(tokens[0])).toEqual(p);
    }
  });

  test("asking for the native back end where the runtime lacks it throws", () => {
    if (nativeAeadAvailable) {
      expect(() => createBranca(bytes(32), { aead: "native" })).not.toThrow();
    } else {
      expect(() => createBranca(bytes(32), { aead: "native" })).toThrow("not available");
    }
  });

  // Bun has no node:crypto chacha20-poly1305, so the native back end is
  // exercised by running a cross-check on Node (tsx) and Deno, which have it.
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const script = `
    import { createBranca, nativeAeadAvailable, TokenError } from ${JSON.stringify(root + "src/token/branca.ts")};
    import { base62Decode, base62Encode } from ${JSON.stringify(root + "src/token/base62.ts")};
    const fail = (m) => { console.log("FAIL " + m); throw new Error(m); };
    if (!nativeAeadAvailable) fail("native back end not available");
    const rnd = (n) => crypto.getRandomValues(new Uint8Array(n));
    const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
    let checked = 0;
    for (let t = 0; t < 200; t++) {
      const key = rnd(32), nonce = rnd(24);
      const size = t < 100 ? t : Math.floor(Math.random() * (t < 195 ? 3000 : 65536));
      const payload = rnd(size);
      const ts = Math.floor(Math.random() * 2 ** 32);
      const native = createBranca(key, { aead: "native" });
      const portable = createBranca(key, { aead: "portable" });
      const a = native.encode(payload, { timestamp: ts, nonce });
      const b = portable.encode(payload, { timestamp: ts, nonce });
      if (a !== b) fail("tokens differ at size " + size);
      if (!eq(native.decode(b), payload)) fail("native cannot open portable token");
      if (!eq(portable.decode(a), payload)) fail("portable cannot open native token");
      const bin = base62Decode(a);
      bin[29 + Math.floor(Math.random() * (bin.length - 29))] ^= 1 << (t % 8);
      try { native.decode(base62Encode(bin)); fail("tampered token accepted"); }
      catch (e) { if (!(e instanceof TokenError) || e.reason !== "forged") fail("tamper: " + e); }
      try { createBranca(rnd(32), { aead: "native" }).decode(a); fail("wrong key accepted"); }
      catch (e) { if (!(e instanceof TokenError) || e.reason !== "forged") fail("wrong key: " + e); }
      try { native.decode(a, { ttl: 10, now: ts + 11 }); fail("expired accepted"); }
      catch (e) { if (!(e instanceof TokenError) || e.reason !== "expired") fail("ttl: " + e); }
      checked++;
    }
    console.log("OK " + checked);
  `;
  const runtimes: Array<[string, string[]]> = [
    ["node (tsx)", ["node", "--import", "tsx", "--input-type=module", "-e", script]],
    ["deno", [root + "node_modules/.bin/deno", "eval", "--ext=js", script]],
  ];
  for (const [name, cmd] of runtimes) {
    test(`native node:crypto back end agrees with the portable one on ${name}`, () => {
      const r = spawnSync(cmd[0], cmd.slice(1), { cwd: root, encoding: "utf8", timeout: 60_000 });
      if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
        console.warn(`skipped: ${name} not found`);
        return;
      }
      expect(`${r.stdout}${r.stderr}`).toContain("OK 200");
      expect(r.status).toBe(0);
    }, 60_000);
  }
});
