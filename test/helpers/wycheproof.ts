/**
 * Project Wycheproof's AEAD test vectors (test/vectors/wycheproof/, see its README) run
 * against an AEAD back end. Portable (node:fs only), so the same check runs under Bun,
 * Node and Deno (test/fixtures/wycheproof.ts).
 */
import { readFileSync } from "node:fs";
import type { Aead, AeadBackend } from "../../src/token/aead.ts";

interface AeadTest {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly key: string;
  readonly iv: string;
  readonly aad: string;
  readonly msg: string;
  readonly ct: string;
  readonly tag: string;
  readonly result: "valid" | "invalid" | "acceptable";
}

interface AeadTestFile {
  readonly algorithm: string;
  readonly numberOfTests: number;
  readonly testGroups: ReadonlyArray<{ readonly tests: readonly AeadTest[] }>;
}

export const WYCHEPROOF_FILES = {
  xchacha20poly1305: "xchacha20_poly1305_test.json",
  chacha20poly1305: "chacha20_poly1305_test.json",
} as const;

export interface WycheproofResult {
  readonly file: string;
  /** Vectors checked (all of the file's, which is asserted). */
  readonly checked: number;
  readonly failures: readonly string[];
}

const fromHex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

function attempt<T>(fn: () => T): T | "threw" {
  try {
    return fn();
  } catch {
    return "threw";
  }
}

/**
 * Valid vectors: sealing gives exactly ct || tag and opening it gives msg back.
 * Invalid ones (modified tags, wrong nonce sizes, ...): opening is refused, and
 * sealing with a nonce of the wrong size throws rather than produce anything.
 */
function check(aead: Aead, t: AeadTest, nonceBytes: number): string | undefined {
  const [key, iv, aad, msg] = [fromHex(t.key), fromHex(t.iv), fromHex(t.aad), fromHex(t.msg)];
  const sealed = fromHex(t.ct + t.tag);
  const opened = attempt(() => aead.open(sealed, aad, iv, key));
  if (t.result === "valid") {
    const got = attempt(() => aead.seal(msg, aad, iv, key));
    if (got === "threw" || toHex(got) !== t.ct + t.tag) return `seal gave ${got === "threw" ? got : toHex(got)}`;
    if (opened === "threw" || opened === null || toHex(opened) !== t.msg) return `open gave ${opened === "threw" || opened === null ? opened : toHex(opened)}`;
    return undefined;
  }
  if (opened !== null && opened !== "threw") return "an invalid vector was opened";
  if (iv.length !== nonceBytes && attempt(() => aead.seal(msg, aad, iv, key)) !== "threw") return `sealed with a ${iv.length}-byte nonce`;
  return undefined;
}

export function runWycheproof(backend: AeadBackend, which: keyof typeof WYCHEPROOF_FILES): WycheproofResult {
  const file = WYCHEPROOF_FILES[which];
  const data = JSON.parse(readFileSync(new URL(`../vectors/wycheproof/${file}`, import.meta.url), "utf8")) as AeadTestFile;
  const nonceBytes = which === "xchacha20poly1305" ? 24 : 12;
  const failures: string[] = [];
  let checked = 0;
  for (const group of data.testGroups) {
    for (const t of group.tests) {
      if (t.result === "acceptable") throw new Error(`tcId ${t.tcId}: "acceptable" vectors are not expected in ${file}`);
      const failure = check(backend[which], t, nonceBytes);
      if (failure !== undefined) failures.push(`${file} tcId ${t.tcId} (${t.result}, ${t.comment || t.flags.join(",")}): ${failure}`);
      checked++;
    }
  }
  if (checked !== data.numberOfTests) failures.push(`${file}: checked ${checked} of ${data.numberOfTests} vectors`);
  return { file, checked, failures };
}
