/**
 * Token verification benchmark: our Branca codec vs the `branca` npm package, on the
 * same tokens in the same process, and our codec over each candidate AEAD library.
 *
 *   bun bench/token.ts                 (npm run bench:token)
 *   node --import tsx bench/token.ts   (Node)
 *   deno run -A bench/token.ts         (Deno)
 *
 * Options (env): ROUNDS (default 5), MS per measurement (default 300), SIZES (default
 * "50,300,2000"), JSON=1 to print the results as one JSON line at the end.
 *
 * Prints, per payload size, the median verifications/second over the rounds of our codec
 * (libsodium, what the server uses) and of the `branca` package, and their ratio, with
 * min-max of the per-round ratios; then the full verification time (base62 + AEAD + checks)
 * of our codec over each AEAD candidate: libsodium-wrappers (WebAssembly), @noble/ciphers,
 * and, where the runtime has it, node:crypto chacha20-poly1305 (with @noble/ciphers'
 * HChaCha20 for the subkey). All candidates are measured interleaved, round by round.
 */
import createReferenceBranca from "branca";
import { chacha20poly1305, hchacha, xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import * as nodeCrypto from "node:crypto";
import { LIBSODIUM, type Aead, type AeadBackend } from "../src/token/aead.ts";
import { createBranca, type Branca } from "../src/token/branca.ts";

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
const SIZES = (env("SIZES") ?? "50,300,2000").split(",").map(Number);
const TOKENS_PER_SIZE = 32;
const TTL = 3600;

/* Candidate AEAD back ends (benchmark only; the server uses LIBSODIUM). */

function nobleAead(make: typeof xchacha20poly1305 | typeof chacha20poly1305): Aead {
  return {
    seal: (m, ad, n, k) => make(k, n, ad).encrypt(m),
    open(c, ad, n, k) {
      try {
        return make(k, n, ad).decrypt(c);
      } catch {
        return null;
      }
    },
  };
}
const NOBLE: AeadBackend = { name: "@noble/ciphers", xchacha20poly1305: nobleAead(xchacha20poly1305), chacha20poly1305: nobleAead(chacha20poly1305) };

function nodeChaCha(): Aead | null {
  try {
    nodeCrypto.createCipheriv("chacha20-poly1305", new Uint8Array(32), new Uint8Array(12), { authTagLength: 16 });
  } catch {
    return null; // Bun
  }
  return {
    seal(m, ad, n, k) {
      const e = nodeCrypto.createCipheriv("chacha20-poly1305", k, n, { authTagLength: 16 });
      e.setAAD(ad, { plaintextLength: m.length });
      const ct = e.update(m);
      e.final();
      const out = new Uint8Array(ct.length + 16);
      out.set(ct);
      out.set(e.getAuthTag(), ct.length);
      return out;
    },
    open(c, ad, n, k) {
      const d = nodeCrypto.createDecipheriv("chacha20-poly1305", k, n, { authTagLength: 16 });
      d.setAAD(ad, { plaintextLength: c.length - 16 });
      d.setAuthTag(c.subarray(c.length - 16));
      const p = d.update(c.subarray(0, c.length - 16));
      try {
        d.final();
      } catch {
        return null;
      }
      return new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
    },
  };
}

/** XChaCha20 from a 12-byte-nonce ChaCha20-Poly1305: HChaCha20 subkey, nonce = 0^4 || n[16..24). */
function xchachaOver(inner: Aead): Aead {
  const sigma = new Uint32Array(new TextEncoder().encode("expand 32-byte k").buffer); // little-endian hosts
  const subkey = (n: Uint8Array, k: Uint8Array) => {
    const out = new Uint32Array(8);
    hchacha(sigma, new Uint32Array(k.slice().buffer), new Uint32Array(n.slice(0, 16).buffer), out);
    return new Uint8Array(out.buffer);
  };
  const iv = (n: Uint8Array) => {
    const v = new Uint8Array(12);
    v.set(n.subarray(16, 24), 4);
    return v;
  };
  return {
    seal: (m, ad, n, k) => inner.seal(m, ad, iv(n), subkey(n, k)),
    open: (c, ad, n, k) => inner.open(c, ad, iv(n), subkey(n, k)),
  };
}

function candidates(): AeadBackend[] {
  const list = [LIBSODIUM, NOBLE];
  const node = nodeChaCha();
  if (node) list.push({ name: "node:crypto + @noble HChaCha20", xchacha20poly1305: xchachaOver(node), chacha20poly1305: node });
  return list;
}

/* Measurement */

/** Operations per second of fn(i) for i = 0, 1, 2, ... over about `ms` milliseconds. */
function opsPerSecond(fn: (i: number) => void, ms: number): number {
  const w0 = performance.now();
  let i = 0;
  while (performance.now() - w0 < ms / 4) fn(i++); // warm-up
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1));
const us = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const pad = (s: string, n: number) => (s.length >= n ? s : " ".repeat(n - s.length) + s);

let sink = 0;

const key = crypto.getRandomValues(new Uint8Array(32));
const reference = createReferenceBranca(Buffer.from(key));
const backends = candidates();
const codecs: Branca[] = backends.map((aead) => createBranca(key, { aead }));
const ours = codecs[0]!; // LIBSODIUM: what the server uses

const now = Math.floor(Date.now() / 1000);
const tokens = new Map<number, string[]>();
for (const size of SIZES) {
  const list: string[] = [];
  for (let i = 0; i < TOKENS_PER_SIZE; i++) {
    const payload = crypto.getRandomValues(new Uint8Array(size));
    const token = reference.encode(Buffer.from(payload), now - i);
    // Same tokens for all: make sure every codec accepts them and agrees.
    for (const got of [...codecs.map((c) => c.decode(token, { ttl: TTL })), new Uint8Array(reference.decode(token, TTL))]) {
      if (got.length !== size || got.some((x, j) => x !== payload[j])) throw new Error("codecs disagree");
    }
    list.push(token);
  }
  tokens.set(size, list);
}

interface SizeResult {
  size: number;
  tokenChars: number;
  ratioMedian: number;
  ratioMin: number;
  ratioMax: number;
  /** median microseconds per verification */
  us: Record<string, number>;
}
const results: SizeResult[] = [];
const names = [...backends.map((b) => `ours over ${b.name}`), "branca package"];
for (const size of SIZES) {
  const list = tokens.get(size)!;
  const mask = list.length - 1;
  const fns: Array<(i: number) => void> = [
    ...codecs.map((c) => (i: number) => void (sink += c.decode(list[i & mask]!, { ttl: TTL }).length)),
    (i: number) => void (sink += reference.decode(list[i & mask]!, TTL).length),
  ];
  for (const fn of fns) opsPerSecond(fn, MS); // let every JIT tier settle
  const runs = fns.map(() => [] as number[]);
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    fns.forEach((fn, c) => runs[c]!.push(opsPerSecond(fn, MS)));
    ratios.push(runs[0]!.at(-1)! / runs.at(-1)!.at(-1)!);
  }
  results.push({
    size,
    tokenChars: list[0]!.length,
    ratioMedian: median(ratios),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    us: Object.fromEntries(names.map((name, c) => [name, 1e6 / median(runs[c]!)])),
  });
}

console.log(`# Token verification — ${runtimeName()}; ${ROUNDS} rounds x ${MS} ms, medians`);
console.log("");
console.log(`| payload | token chars | ours verif/s | branca verif/s | ours / branca (min-max) |`);
console.log(`|--------:|------------:|-------------:|---------------:|------:|`);
for (const r of results) {
  const o = 1e6 / r.us[names[0]!]!;
  const b = 1e6 / r.us["branca package"]!;
  console.log(
    `| ${pad(String(r.size), 7)} | ${pad(String(r.tokenChars), 11)} | ${pad(fmt(o), 12)} | ${pad(fmt(b), 14)} | ${r.ratioMedian.toFixed(1)}x (${r.ratioMin.toFixed(1)}-${r.ratioMax.toFixed(1)}) |`,
  );
}
console.log("");
console.log("Full verification (base62 + AEAD + checks), microseconds per token, medians:");
console.log("");
console.log(`| | ${SIZES.map((s) => `${s} B`).join(" | ")} |`);
console.log(`|---|${SIZES.map(() => "---:").join("|")}|`);
for (const name of names) console.log(`| ${name} | ${results.map((r) => us(r.us[name]!)).join(" | ")} |`);
if (env("JSON") === "1") console.log(JSON.stringify({ runtime: runtimeName(), rounds: ROUNDS, ms: MS, results }));
if (sink === 42) console.log("");
