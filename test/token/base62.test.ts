import { describe, test, expect } from "bun:test";
import fc from "fast-check";
import baseX from "base-x";
import { BASE62_ALPHABET, base62Decode, base62Encode, TokenError } from "../../src/token/base62.ts";

// base-x with the Branca alphabet is exactly what the `branca` package uses.
const reference = baseX(BASE62_ALPHABET);

/** Random bytes with a random run of leading zero bytes. */
const bytesWithZeros = (maxLength: number) =>
  fc
    .tuple(fc.nat({ max: 6 }), fc.uint8Array({ minLength: 0, maxLength, size: "max" }))
    .map(([zeros, rest]) => {
      const b = new Uint8Array(zeros + rest.length);
      b.set(rest, zeros);
      return b;
    });

function expectMalformed(text: string): void {
  let error: unknown;
  try {
    base62Decode(text);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(TokenError);
  expect((error as TokenError).reason).toBe("malformed");
}

describe("base62", () => {
  test("known values", () => {
    expect(base62Encode(new Uint8Array([]))).toBe("");
    expect(base62Encode(new Uint8Array([0]))).toBe("0");
    expect(base62Encode(new Uint8Array([0, 0, 1]))).toBe("001");
    expect(base62Encode(new Uint8Array([61]))).toBe("z");
    expect(base62Encode(new Uint8Array([62]))).toBe("10");
    expect(base62Encode(new Uint8Array([255, 255]))).toBe("H31");
    expect([...base62Decode("0")]).toEqual([0]);
    expect([...base62Decode("000")]).toEqual([0, 0, 0]);
    expect([...base62Decode("00z")]).toEqual([0, 0, 61]);
    expect([...base62Decode("H31")]).toEqual([255, 255]);
  });

  test("round trip, including leading zero bytes (both decode paths: short and long)", () => {
    fc.assert(
      fc.property(bytesWithZeros(600), (bytes) => {
        const text = base62Encode(bytes);
        if (bytes.length === 0) return text === "";
        expect(base62Decode(text)).toEqual(bytes);
        // the number of leading '0' characters equals the number of leading zero bytes
        let zb = 0;
        while (zb < bytes.length && bytes[zb] === 0) zb++;
        let zc = 0;
        while (zc < text.length && text[zc] === "0") zc++;
        expect(zc).toBe(zb);
        return true;
      }),
      { numRuns: 400 },
    );
  });

  test("round trip of large inputs (up to 64 KB)", () => {
    for (const size of [4096, 20_000, 65_536]) {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 65_536) crypto.getRandomValues(bytes.subarray(i, i + 65_536));
      bytes[0] = 0;
      bytes[1] = 0;
      expect(base62Decode(base62Encode(bytes))).toEqual(bytes);
    }
  });

  test("matches base-x (the branca package's base62) on random inputs", () => {
    fc.assert(
      fc.property(bytesWithZeros(700), (bytes) => {
        const ours = base62Encode(bytes);
        expect(ours).toBe(reference.encode(bytes));
        if (ours.length > 0) expect(base62Decode(ours)).toEqual(reference.decode(ours));
      }),
      { numRuns: 300 },
    );
  });

  test("decodes arbitrary alphabet strings like base-x (any string is canonical)", () => {
    const alphabetString = fc
      .array(fc.constantFrom(...BASE62_ALPHABET.split("")), { minLength: 1, maxLength: 700, size: "max" })
      .map((cs) => cs.join(""));
    fc.assert(
      fc.property(alphabetString, (text) => {
        const ours = base62Decode(text);
        expect(ours).toEqual(reference.decode(text));
        expect(base62Encode(ours)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  test("rejects empty input", () => {
    expectMalformed("");
  });

  test("rejects common non-alphabet characters anywhere", () => {
    const valid = base62Encode(crypto.getRandomValues(new Uint8Array(120))); // long path
    const short = "1" + base62Encode(crypto.getRandomValues(new Uint8Array(40))); // short path
    const bad = ["+", "/", "=", " ", "-", "_", ".", "\n", "\t", "\0", "é", "ß", "€", "😀", "\u00a0", "\ufeff", "Ａ", "٣"];
    for (const text of [valid, short]) {
      for (const c of bad) {
        expectMalformed(c);
        expectMalformed(c + text);
        expectMalformed(text + c);
        expectMalformed(text.slice(0, 7) + c + text.slice(7));
        expectMalformed("000" + c);
      }
    }
  });

  test("rejects every UTF-16 code unit outside the alphabet", () => {
    const text = base62Encode(crypto.getRandomValues(new Uint8Array(30)));
    for (let code = 0; code < 0x10000; code++) {
      const c = String.fromCharCode(code);
      if (BASE62_ALPHABET.includes(c)) continue;
      expectMalformed(text.slice(0, 5) + c + text.slice(5));
    }
  });

  test("rejects a random non-alphabet character at a random position", () => {
    const nonAlphabet = fc.string({ unit: "binary", minLength: 1, maxLength: 1 }).filter((c) => !BASE62_ALPHABET.includes(c));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 400, size: "max" }), nonAlphabet, fc.nat(), (bytes, c, at) => {
        const text = base62Encode(bytes);
        const i = at % (text.length + 1);
        expectMalformed(text.slice(0, i) + c + text.slice(i));
      }),
      { numRuns: 60 },
    );
  });
});
