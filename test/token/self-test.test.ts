/** The start-up known-answer test of the token crypto, and what start-up does when it fails. */
import { describe, expect, test } from "bun:test";
import createReferenceBranca from "branca";
import { xchacha20 } from "@noble/ciphers/chacha.js";
import { LIBSODIUM, type Aead, type AeadBackend } from "../../src/token/aead.ts";
import { checkTokenCrypto, KNOWN_ANSWER, SelfTestError } from "../../src/token/self-test.ts";
import { runProcess } from "../helpers/process.ts";
import { ROOT } from "../helpers/runtimes.ts";
import { SECRET_HEX } from "../helpers/tokens.ts";

const fromHex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

function withXChaCha(name: string, aead: Partial<Aead>): AeadBackend {
  return { ...LIBSODIUM, name, xchacha20poly1305: { ...LIBSODIUM.xchacha20poly1305, ...aead } };
}

function failure(backend: AeadBackend): string {
  try {
    checkTokenCrypto(backend);
  } catch (error) {
    if (error instanceof SelfTestError) return error.message;
    throw error;
  }
  return "passed";
}

describe("known-answer self-test", () => {
  test("the known token is what the reference branca package mints", () => {
    const reference = createReferenceBranca(Buffer.from(KNOWN_ANSWER.key, "hex"));
    reference._nonce = Buffer.from(KNOWN_ANSWER.nonce, "hex"); // the package's own test hook
    expect(reference.encode(Buffer.from(KNOWN_ANSWER.payload), KNOWN_ANSWER.timestamp)).toBe(KNOWN_ANSWER.token);
    expect(fromHex(KNOWN_ANSWER.key)).toHaveLength(32);
    expect(fromHex(KNOWN_ANSWER.nonce)).toHaveLength(24);
  });

  test("passes with the real back end", () => {
    expect(failure(LIBSODIUM)).toBe("passed");
  });

  test("fails, saying what is wrong, for each way an AEAD can be broken", () => {
    const real = LIBSODIUM.xchacha20poly1305;
    const plusFive = withXChaCha("tags + 5", {
      seal(m, ad, n, k) {
        const sealed = real.seal(m, ad, n, k);
        sealed[sealed.length - 16] = (sealed[sealed.length - 16]! + 5) & 0xff;
        return sealed;
      },
    });
    expect(failure(plusFive)).toBe("token crypto (tags + 5) failed its known-answer test: sealing gave a different token");
    const refusesAll = withXChaCha("refuses all", { open: () => null });
    expect(failure(refusesAll)).toContain("the known token was refused");
    const garbles = withXChaCha("garbles", { open: (c, ad, n, k) => real.open(c, ad, n, k)?.reverse() ?? null });
    expect(failure(garbles)).toContain("opened to a different payload");
    // decrypts (XChaCha20, block counter 1 onwards) without looking at the tag
    const ignoresTag = withXChaCha("ignores the tag", { open: (c, _ad, n, k) => xchacha20(k, n, c.subarray(0, c.length - 16), undefined, 1) });
    expect(failure(ignoresTag)).toContain("a token with a flipped bit in its timestamp was accepted");
    // checks only the tag's last byte: the flips in the other fifteen catch it
    const lastByteOnly = withXChaCha("checks one tag byte", {
      open(c, ad, n, k) {
        const honest = real.seal(real.open(c, ad, n, k) ?? xchacha20(k, n, c.subarray(0, c.length - 16), undefined, 1), ad, n, k);
        return honest[honest.length - 1] === c[c.length - 1] ? xchacha20(k, n, c.subarray(0, c.length - 16), undefined, 1) : null;
      },
    });
    expect(failure(lastByteOnly)).toContain("a token with a flipped bit in its tag byte 0 was accepted");
    const throws = withXChaCha("throws", {
      seal: () => {
        throw new Error("boom");
      },
    });
    expect(failure(throws)).toContain("sealing threw Error: boom");
  });

  test("start-up exits 1 with a clear message when the library's tags are wrong, and gets to listening when they are right", async () => {
    const command = [`${ROOT}node_modules/.bin/bun`, "test/fixtures/broken-crypto-server.ts"];
    const broken = await runProcess(command[0]!, command.slice(1), { SSE_SECRET: SECRET_HEX, BREAK_CRYPTO: "1" }, 30_000);
    expect(broken.stderr.trim()).toBe(
      "sse-server: start-up self-test failed: token crypto (libsodium-wrappers (WebAssembly)) failed its known-answer test: sealing gave a different token",
    );
    expect(broken.stdout).not.toContain("would listen");
    expect(broken.code).toBe(1);
    const intact = await runProcess(command[0]!, command.slice(1), { SSE_SECRET: SECRET_HEX, BREAK_CRYPTO: "0" }, 30_000);
    expect(intact.stdout).toContain("would listen");
    expect(intact.code).toBe(3);
  }, 60_000);
});
