/**
 * Token verification benchmark: our Branca codec vs the `branca` npm package,
 * on the same tokens in the same process.
 *
 *   bun bench/token.ts                 (npm run bench:token)
 *   npx tsx bench/token.ts             (Node)
 *   npx deno run -A bench/token.ts     (Deno)
 *
 * Options (env): ROUNDS (default 5), MS per measurement (default 300),
 * SIZES (default "50,300,2000"), CANDIDATES=0 to skip the AEAD candidate
 * table, CANDIDATE_SIZES (default "50,300,2000,8000,32000").
 *
 * Prints, per payload size, the median verifications/second over the rounds
 * and the ratio ours / branca; then the time of the AEAD step alone for each
 * candidate implementation (our portable JS, HChaCha20 + node:crypto where
 * the runtime has it, @noble/ciphers) that BENCHMARKS.md uses to justify the
 * back-end choice.
 */
// @ts-ignore -- `branca` is an untyped CommonJS package; typed by ReferenceBranca below
import brancaFactory from "branca";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { base62Decode } from "../src/token/base62.ts";
import { createBranca, decodeBinary, nativeAeadAvailable, NATIVE_MIN_CIPHERTEXT, type Branca } from "../src/token/branca.ts";

interface ReferenceBranca {
  encode(message: Uint8Array, timestamp?: number): string;
  decode(token: string, ttl?: number): Uint8Array;
}
const makeReference = brancaFactory as unknown as (key: Uint8Array) => ReferenceBranca;

type Env = { get(name: string): string | undefined };
function env(name: string): string | undefined {
  const g = globalThis as { process?: { env: Record<string, string | undefined> }; Deno?: { env: Env } };
  if (g.Deno) return g.Deno.env.get(name);
  return g.process?.env[name];
}

function runtimeName(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } }; process?: { version: string } };
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  return `node ${g.process?.version ?? "?"}`;
}

const ROUNDS = Number(env("ROUNDS") ?? 5);
const MS = Number(env("MS") ?? 300);
const CANDIDATES = env("CANDIDATES") !== "0";
const SIZES = (env("SIZES") ?? "50,300,2000").split(",").map(Number);
const TOKENS_PER_SIZE = 32;
const TTL = 3600;

/** Operations per second of fn(i) for i = 0, 1, 2, ... over about `ms` milliseconds. */
function opsPerSecond(fn: (i: number) => void, ms: number): number {
  // warm-up
  const w0 = performance.now();
  let i = 0;
  while (performance.now() - w0 < ms / 4) fn(i++);
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  let batch = 1;
  while (t - t0 < ms) {
    for (let k = 0; k < batch; k++) fn(n++);
    t = performance.now();
    if (t - t0 < ms / 20) batch *= 2;
  }
  return (n * 1000) / (t - t0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(x: number): string {
  return x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1);
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : " ".repeat(n - s.length) + s;
}

let sink = 0;

async function main(): Promise<void> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const ours = createBranca(key);
  const reference = makeReference(key);

  // libsodium-wrappers (used by `branca`) initialises asynchronously.
  for (let tries = 0; ; tries++) {
    try {
      reference.encode(new Uint8Array(1));
      break;
    } catch (e) {
      if (tries > 500) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  const now = Math.floor(Date.now() / 1000);
  const tokens = new Map<number, string[]>();
  for (const size of SIZES) {
    const list: string[] = [];
    for (let i = 0; i < TOKENS_PER_SIZE; i++) {
      const payload = crypto.getRandomValues(new Uint8Array(size));
      const token = ours.encode(payload, { timestamp: now - i });
      // Same tokens for both: make sure both accept them and agree.
      const a = ours.decode(token, { ttl: TTL });
      const b = reference.decode(token, TTL);
      if (a.length !== size || b.length !== size || a.some((x, j) => x !== b[j] || x !== payload[j])) {
        throw new Error("codecs disagree");
      }
      list.push(token);
    }
    tokens.set(size, list);
  }

  const auto = nativeAeadAvailable ? `native for ciphertexts >= ${NATIVE_MIN_CIPHERTEXT} B, else portable` : "portable (no node:crypto chacha20-poly1305)";
  console.log(`# Token verification — ${runtimeName()}; ${ROUNDS} rounds x ${MS} ms, medians`);
  console.log(`# our AEAD back end ("auto"): ${auto}`);
  console.log("");
  console.log(`| payload | token chars | ours verif/s | branca verif/s | ratio |`);
  console.log(`|--------:|------------:|-------------:|---------------:|------:|`);
  // Let every JIT tier settle before measuring anything.
  for (const size of SIZES) {
    const list = tokens.get(size)!;
    const mask = list.length - 1;
    opsPerSecond((i) => { sink += ours.decode(list[i & mask], { ttl: TTL }).length; }, MS * 2);
    opsPerSecond((i) => { sink += reference.decode(list[i & mask], TTL).length; }, MS);
  }
  for (const size of SIZES) {
    const list = tokens.get(size)!;
    const mask = list.length - 1;
    const oursRuns: number[] = [];
    const refRuns: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const a = opsPerSecond((i) => {
        sink += ours.decode(list[i & mask], { ttl: TTL }).length;
      }, MS);
      const b = opsPerSecond((i) => {
        sink += reference.decode(list[i & mask], TTL).length;
      }, MS);
      oursRuns.push(a);
      refRuns.push(b);
      ratios.push(a / b);
    }
    console.log(
      `| ${pad(String(size), 7)} | ${pad(String(list[0].length), 11)} | ${pad(fmt(median(oursRuns)), 12)} | ${pad(fmt(median(refRuns)), 14)} | ${pad(median(ratios).toFixed(1) + "x", 5)} |`,
    );
  }

  if (!CANDIDATES) return;
  // AEAD candidates, timed on the already base62-decoded token bytes (the
  // verification minus base62), interleaved round by round since the machine
  // may be noisy. Full verification = base62 decode + this.
  const candSizes = (env("CANDIDATE_SIZES") ?? "50,300,2000,8000,32000").split(",").map(Number);
  const portable: Branca = createBranca(key, { aead: "portable" });
  const candidates: Array<[string, (bin: Uint8Array) => number]> = [
    ["portable JS (ChaCha20 + Poly1305)", (b) => decodeBinary(portable, b, { ttl: TTL }).length],
  ];
  if (nativeAeadAvailable) {
    const native = createBranca(key, { aead: "native" });
    candidates.push(["HChaCha20 JS + node:crypto chacha20-poly1305", (b) => decodeBinary(native, b, { ttl: TTL }).length]);
  }
  candidates.push([
    "@noble/ciphers xchacha20poly1305",
    (b) => xchacha20poly1305(key, b.subarray(5, 29), b.subarray(0, 29)).decrypt(b.subarray(29)).length,
  ]);
  const results = candidates.map(() => [] as number[]); // median microseconds per size
  const base62Results: number[] = [];
  for (const size of candSizes) {
    const tokens: string[] = [];
    for (let i = 0; i < 8; i++) tokens.push(ours.encode(crypto.getRandomValues(new Uint8Array(Math.min(size, 65536))), { timestamp: now }));
    const bins = tokens.map((t) => base62Decode(t));
    const mask = bins.length - 1;
    const runs = candidates.map(() => [] as number[]);
    const b62: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      candidates.forEach(([, fn], c) => runs[c].push(1e6 / opsPerSecond((i) => { sink += fn(bins[i & mask]); }, MS)));
      b62.push(1e6 / opsPerSecond((i) => { sink += base62Decode(tokens[i & mask]).length; }, MS));
    }
    candidates.forEach((_, c) => results[c].push(median(runs[c])));
    base62Results.push(median(b62));
  }
  const us = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  console.log("");
  console.log(`AEAD step alone (token bytes -> payload, incl. version/length/TTL checks), microseconds per token, medians of ${ROUNDS} interleaved rounds:`);
  console.log("");
  console.log(`| candidate | ${candSizes.map((s) => `${s} B`).join(" | ")} |`);
  console.log(`|---|${candSizes.map(() => "---:").join("|")}|`);
  candidates.forEach(([name], c) => console.log(`| ${name} | ${results[c].map(us).join(" | ")} |`));
  console.log(`| (for scale: our base62 decode) | ${base62Results.map(us).join(" | ")} |`);
  if (sink === 42) console.log("");
}

await main();
