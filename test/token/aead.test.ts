/**
 * The token AEAD against what no one here wrote: Project Wycheproof's vectors (on Bun
 * here, and on Node and Deno as subprocesses), and the Poly1305 carry case that a
 * hand-written implementation once got wrong.
 */
import { describe, expect, test } from "bun:test";
import { poly1305 as noblePoly1305 } from "@noble/ciphers/_poly1305.js";
import { LIBSODIUM, type AeadBackend } from "../../src/token/aead.ts";
import { poly1305 } from "../helpers/poly1305.ts";
import { runProcess } from "../helpers/process.ts";
import { NODE, ROOT } from "../helpers/runtimes.ts";
import { runWycheproof, WYCHEPROOF_FILES } from "../helpers/wycheproof.ts";

const WHICH = Object.keys(WYCHEPROOF_FILES) as Array<keyof typeof WYCHEPROOF_FILES>;
const BACKENDS: readonly AeadBackend[] = [LIBSODIUM];
const fromHex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));

describe("Wycheproof AEAD vectors", () => {
  for (const backend of BACKENDS) {
    for (const which of WHICH) {
      test(`${which} on Bun: ${backend.name}`, () => {
        const result = runWycheproof(backend, which);
        expect(result.failures).toEqual([]);
        expect(result.checked).toBeGreaterThan(300);
      });
    }
  }

  test("the harness catches a back end whose tags are off by 5 (the old carry bug's symptom)", () => {
    const plusFive = (sealed: Uint8Array) => {
      const out = sealed.slice();
      out[out.length - 16] += 5; // tag + 5, as long as the first byte does not overflow
      return out;
    };
    const broken: AeadBackend = {
      name: "broken",
      xchacha20poly1305: {
        seal: (m, ad, n, k) => plusFive(LIBSODIUM.xchacha20poly1305.seal(m, ad, n, k)),
        open: (c, ad, n, k) => LIBSODIUM.xchacha20poly1305.open(c, ad, n, k),
      },
      chacha20poly1305: LIBSODIUM.chacha20poly1305,
    };
    const result = runWycheproof(broken, "xchacha20poly1305");
    expect(result.failures.length).toBeGreaterThan(200);
    expect(result.failures[0]).toContain("seal gave");
  });

  // Bun's node:crypto has no chacha20-poly1305, but libsodium's WebAssembly runs on every
  // engine: check it where the server also runs, on Node and Deno.
  const runtimes: Array<[string, string[]]> = [
    ["Node", [NODE, "--import", "tsx", "test/fixtures/wycheproof.ts"]],
    ["Deno", [`${ROOT}node_modules/.bin/deno`, "run", "--allow-read", "--allow-env", "test/fixtures/wycheproof.ts"]],
  ];
  for (const [name, command] of runtimes) {
    test(`every vector file and back end on ${name}`, async () => {
      const run = await runProcess(command[0]!, command.slice(1), {}, 50_000);
      const lines = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as { backend: string; file: string; checked: number; failures: string[] });
      expect(lines.map((l) => [l.backend, l.file, l.failures])).toEqual(
        BACKENDS.flatMap((b) => WHICH.map((w) => [b.name, WYCHEPROOF_FILES[w], []])),
      );
      for (const line of lines) expect(line.checked).toBeGreaterThan(300);
      expect(run.code).toBe(0);
    }, 60_000);
  }
});

describe("Poly1305 carry case", () => {
  // r = 1, s = 0: the tag is the block plus 2^128, mod 2^130 - 5, truncated to 128 bits,
  // i.e. the block itself. A hand-written Poly1305 whose final reduction read the wrong
  // limb's carry gave 04 00..00 here. libsodium-wrappers (non-sumo) does not expose bare
  // Poly1305; the back end is covered by the token-level carry case in branca.test.ts,
  // whose construction rests on the BigInt model checked here against @noble/ciphers.
  test("key 01 || 0^31, message ff x 16 -> tag ff x 16", () => {
    const key = new Uint8Array(32);
    key[0] = 1;
    const msg = new Uint8Array(16).fill(0xff);
    expect(poly1305(key, msg)).toEqual(new Uint8Array(16).fill(0xff));
    expect(noblePoly1305(msg, key)).toEqual(new Uint8Array(16).fill(0xff));
  });

  test("the BigInt model agrees with @noble/ciphers and RFC 8439's example", () => {
    // RFC 8439, 2.5.2
    const rfcKey = fromHex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
    const rfcMsg = new TextEncoder().encode("Cryptographic Forum Research Group");
    expect(poly1305(rfcKey, rfcMsg)).toEqual(fromHex("a8061dc1305136c6c22b8baf0c0127a9"));
    for (let i = 0; i < 50; i++) {
      const key = crypto.getRandomValues(new Uint8Array(32));
      const msg = crypto.getRandomValues(new Uint8Array(i * 7));
      expect(poly1305(key, msg)).toEqual(noblePoly1305(msg, key));
    }
  });
});
