/**
 * What a token that fails authentication costs the server, and what a flood of them does
 * to live streams (BENCHMARKS.md, "Unauthenticated input").
 *
 * For each runtime and each server (this checkout; the checkout at --main, before and at
 * the same body limit as this one), against the real server on loopback:
 *  1. CPU per failing request at the largest accepted body: random base62 text, one
 *     keep-alive connection, back to back; the server process's CPU (all its threads,
 *     from /proc) over the requests.
 *  2. Delivery latency of a live stream: a small event published every 20 ms (POST submit,
 *     a valid small token, the send time as its data), received on a subscribed stream;
 *     p50/p99 on an idle server, then while a separate process floods POST submit with
 *     max-size garbage on `--conns` connections, back to back, for `--flood-s` seconds.
 *
 *  3. With --sweep SIZES (characters, comma-separated): CPU per failing request of each
 *     size on this checkout (limit raised to fit), the curve the default limit and the
 *     inline threshold were chosen from.
 *
 *  4. `bun bench/unauth-flood.ts --decode 1024,2048,4096` (any runtime): the time of
 *     `branca.decode` alone on random base62 of each size, in process, median of 15 —
 *     what an inline verification costs the event loop, for the inline threshold.
 *
 *   npm run bench:unauth -- [--runtimes bun,node,deno] [--rounds 3] [--main /work/main]
 *                           [--conns 8] [--flood-s 10] [--sweep 2048,65536 [--sweep-only]]
 *                           [--out FILE]
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startServer, type RunningServer } from "../test/helpers/server.ts";
import { RUNTIMES, SERVER_COMMANDS, type Runtime } from "../test/helpers/runtimes.ts";
import { randomBase62, submitToken, subscribeToken } from "../test/helpers/tokens.ts";
import { createBranca } from "../src/token/branca.ts";
import { median, nowMs, procCpuMs, quantile, RawHttpClient, sleep } from "./lib.ts";

const HOST = "127.0.0.1";
const SELF = fileURLToPath(import.meta.url);

/** Random base62 text of `length` characters: decodes in full, then fails authentication. */
const garbage = randomBase62;

// --- the flood, in a process of its own so that it never delays the latency probe ---------

async function flood(port: number, conns: number, durationMs: number, bytes: number): Promise<void> {
  const client = new RawHttpClient(HOST, port, conns, 1);
  await client.ready();
  const bodies = Array.from({ length: 8 }, () => client.prepare({ method: "POST", path: "/submit", body: garbage(bytes) }));
  const statuses: Record<string, number> = {};
  const deadline = nowMs() + durationMs;
  let n = 0;
  await Promise.all(
    Array.from({ length: conns }, async () => {
      // Bounded in time and in count.
      for (let i = 0; i < 1_000_000 && nowMs() < deadline; i++) {
        const status = await client.request(bodies[n++ % bodies.length]!).catch(() => 0);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === 0) return;
      }
    }),
  );
  client.close();
  process.stdout.write(JSON.stringify(statuses) + "\n");
}

// --- the measurements ---------------------------------------------------------------------

interface Variant {
  readonly name: string;
  readonly command: (runtime: Runtime) => readonly string[];
  readonly env: Record<string, string>;
  /** The largest body this server accepts (its SSE_MAX_BODY_BYTES). */
  readonly maxBody: number;
}

interface Measured {
  variant: string;
  runtime: Runtime;
  maxBody: number;
  cpuMsPerFailingRequest: number;
  failingRequests: number;
  failingStatuses: Record<string, number>;
  idle: LatencySummary;
  flood: LatencySummary & { floodStatuses: Record<string, number>; floodRequestsPerS: number };
}

interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
  published: number;
  received: number;
}

async function cpuPerFailingRequest(server: RunningServer, maxBody: number, maxRequests: number, maxMs: number) {
  const client = new RawHttpClient(HOST, server.port, 1, 1);
  await client.ready();
  const bodies = Array.from({ length: 8 }, () => client.prepare({ method: "POST", path: "/submit", body: garbage(maxBody) }));
  for (let i = 0; i < 8; i++) await client.request(bodies[i]!); // warm-up
  const statuses: Record<string, number> = {};
  const cpu0 = procCpuMs(server.process.pid!);
  const deadline = nowMs() + maxMs;
  let n = 0;
  for (; n < maxRequests && nowMs() < deadline; n++) {
    const status = await client.request(bodies[n % bodies.length]!);
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  const cpuMs = procCpuMs(server.process.pid!) - cpu0;
  client.close();
  return { cpuMsPerFailingRequest: cpuMs / n, failingRequests: n, failingStatuses: statuses };
}

/** Publishes every `everyMs` for `durationMs` and times each event's arrival on a stream. */
async function deliveryLatency(server: RunningServer, topic: string, durationMs: number, everyMs = 20): Promise<LatencySummary> {
  const abort = new AbortController();
  const response = await fetch(`${server.url}/events?token=${subscribeToken([topic])}`, { signal: abort.signal });
  const latencies: number[] = [];
  const reading = (async () => {
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) return;
      text += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = text.indexOf("\n\n")) >= 0) {
        const frame = text.slice(0, end);
        text = text.slice(end + 2);
        const data = /^data: (\d+\.?\d*)$/m.exec(frame);
        if (data) latencies.push(nowMs() - Number(data[1]));
      }
    }
  })();
  const publisher = new RawHttpClient(HOST, server.port, 1, 1000);
  await publisher.ready();
  let published = 0;
  const answers: Promise<number>[] = [];
  const end = nowMs() + durationMs;
  // Open loop: one publication per tick whatever the server's pace; bounded by the duration.
  for (let i = 0; i < 100_000 && nowMs() < end; i++) {
    const body = submitToken([{ topic, event: "", data: nowMs().toFixed(3) }]);
    answers.push(publisher.request(publisher.prepare({ method: "POST", path: "/submit", body })).catch(() => 0));
    published++;
    await sleep(everyMs);
  }
  await Promise.race([Promise.all(answers), sleep(5000)]);
  await sleep(200); // the last events in flight
  abort.abort();
  await reading;
  publisher.close();
  const sorted = latencies.sort((a, b) => a - b);
  return { p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), published, received: sorted.length };
}

async function startFlood(port: number, conns: number, durationMs: number, bytes: number) {
  const child = spawn("node", ["--import", "tsx", SELF, "--flood", String(port), String(conns), String(durationMs), String(bytes)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  const done = new Promise<Record<string, number>>((resolve) =>
    child.on("exit", () => resolve(out.trim() ? (JSON.parse(out.trim().split("\n").pop()!) as Record<string, number>) : {})),
  );
  await sleep(1000); // the flood is up before the probe starts
  return done;
}

async function measure(variant: Variant, runtime: Runtime, opts: Options): Promise<Measured> {
  const server = await startServer(runtime, { command: variant.command(runtime), env: variant.env, timeoutMs: 30_000 });
  try {
    const cpu = await cpuPerFailingRequest(server, variant.maxBody, 300, 6000);
    const idle = await deliveryLatency(server, "idle", opts.floodMs / 2);
    const floodDone = startFlood(server.port, opts.conns, opts.floodMs + 1000, variant.maxBody);
    await sleep(1000);
    const during = await deliveryLatency(server, "flood", opts.floodMs - 1000);
    const floodStatuses = await floodDone;
    const floodRequests = Object.values(floodStatuses).reduce((a, b) => a + b, 0);
    const alive = await fetch(`${server.url}/ping`).then((r) => r.status === 200, () => false);
    if (!alive) throw new Error(`${variant.name} on ${runtime} stopped answering`);
    return {
      variant: variant.name,
      runtime,
      maxBody: variant.maxBody,
      ...cpu,
      idle,
      flood: { ...during, floodStatuses, floodRequestsPerS: floodRequests / ((opts.floodMs + 1000) / 1000) },
    };
  } finally {
    await server.stop();
  }
}

interface Options {
  runtimes: Runtime[];
  rounds: number;
  main: string;
  conns: number;
  floodMs: number;
  out: string;
  sweep: number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runtimes: { type: "string", default: "bun" },
      rounds: { type: "string", default: "3" },
      main: { type: "string", default: "/work/main" },
      conns: { type: "string", default: "8" },
      "flood-s": { type: "string", default: "10" },
      sweep: { type: "string", default: "" },
      "sweep-only": { type: "boolean", default: false },
      out: { type: "string", default: `bench/results/unauth-flood-${new Date().toISOString().slice(0, 10)}.json` },
    },
  });
  const opts: Options = {
    runtimes: values.runtimes!.split(",").filter((r): r is Runtime => (RUNTIMES as readonly string[]).includes(r)),
    rounds: Number(values.rounds),
    main: values.main!.replace(/\/+$/, ""),
    conns: Number(values.conns),
    floodMs: Number(values["flood-s"]) * 1000,
    out: values.out!,
    sweep: values.sweep!.split(",").filter(Boolean).map(Number),
  };
  const ours = (runtime: Runtime) => SERVER_COMMANDS[runtime];
  // main's entry points, by absolute path: the same command, the other checkout's code.
  const theirs = (runtime: Runtime) => SERVER_COMMANDS[runtime].map((a) => (a.startsWith("src/") ? `${opts.main}/${a}` : a));
  const variants: Variant[] = [
    { name: "main, default limit", command: theirs, env: {}, maxBody: 256 * 1024 },
    { name: "main, 64 KiB limit", command: theirs, env: { SSE_MAX_BODY_BYTES: String(64 * 1024) }, maxBody: 64 * 1024 },
    { name: "this, default limit", command: ours, env: {}, maxBody: 64 * 1024 },
  ];
  const results: Measured[] = [];
  for (let round = 1; round <= (values["sweep-only"] ? 0 : opts.rounds); round++) {
    for (const runtime of opts.runtimes) {
      for (const variant of variants) {
        const m = await measure(variant, runtime, opts);
        results.push(m);
        console.log(
          `round ${round} ${runtime.padEnd(4)} ${variant.name.padEnd(20)} cpu/fail ${m.cpuMsPerFailingRequest.toFixed(2)} ms` +
            ` | idle p50 ${m.idle.p50Ms.toFixed(2)} p99 ${m.idle.p99Ms.toFixed(2)} (${m.idle.received}/${m.idle.published})` +
            ` | flood p50 ${m.flood.p50Ms.toFixed(2)} p99 ${m.flood.p99Ms.toFixed(2)} (${m.flood.received}/${m.flood.published})` +
            ` ${m.flood.floodRequestsPerS.toFixed(0)} req/s ${JSON.stringify(m.flood.floodStatuses)}`,
        );
      }
    }
  }
  if (results.length > 0) console.log("\nmin–max over rounds (median):");
  for (const runtime of results.length > 0 ? opts.runtimes : []) {
    for (const variant of variants) {
      const rows = results.filter((r) => r.runtime === runtime && r.variant === variant.name);
      const range = (pick: (r: Measured) => number, digits = 2) => {
        const v = rows.map(pick);
        return `${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)} (${median(v).toFixed(digits)})`;
      };
      console.log(
        `${runtime} | ${variant.name} | cpu/fail ms ${range((r) => r.cpuMsPerFailingRequest)}` +
          ` | idle p50 ${range((r) => r.idle.p50Ms)} p99 ${range((r) => r.idle.p99Ms)}` +
          ` | flood p50 ${range((r) => r.flood.p50Ms)} p99 ${range((r) => r.flood.p99Ms)}` +
          ` | ratio p50 ${range((r) => r.flood.p50Ms / r.idle.p50Ms)} p99 ${range((r) => r.flood.p99Ms / r.idle.p99Ms)}`,
      );
    }
  }
  const sweep: { runtime: Runtime; round: number; chars: number; cpuMsPerFailingRequest: number }[] = [];
  if (opts.sweep.length > 0) {
    for (const runtime of opts.runtimes) {
      const server = await startServer(runtime, { env: { SSE_MAX_BODY_BYTES: String(Math.max(...opts.sweep)) } });
      try {
        for (let round = 1; round <= opts.rounds; round++) {
          for (const chars of opts.sweep) {
            const { cpuMsPerFailingRequest } = await cpuPerFailingRequest(server, chars, 300, 3000);
            sweep.push({ runtime, round, chars, cpuMsPerFailingRequest });
          }
        }
      } finally {
        await server.stop();
      }
      const line = opts.sweep.map((chars) => {
        const v = sweep.filter((s) => s.runtime === runtime && s.chars === chars).map((s) => s.cpuMsPerFailingRequest);
        return `${chars}: ${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)}`;
      });
      console.log(`sweep ${runtime}, CPU ms per failing request by size: ${line.join(" | ")}`);
    }
  }
  mkdirSync("bench/results", { recursive: true });
  writeFileSync(opts.out, JSON.stringify({ date: new Date().toISOString(), options: opts, results, sweep }, null, 2) + "\n");
  console.log(`\nraw results: ${opts.out}`);
}

/** Median time of one failing `decode` per size, in this process (warmed). */
function decodeTimes(sizes: readonly number[]): void {
  const branca = createBranca(new Uint8Array(32).fill(7));
  for (const size of sizes) {
    const texts = Array.from({ length: 8 }, () => garbage(size));
    const reps = Math.max(5, Math.min(500, Math.round(2e6 / size)));
    const fail = (text: string) => {
      try {
        branca.decode(text);
      } catch {
        // rejected, as expected
      }
    };
    for (let i = 0; i < reps; i++) fail(texts[i % 8]!); // warm-up
    const times: number[] = [];
    for (let round = 0; round < 15; round++) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) fail(texts[i % 8]!);
      times.push((performance.now() - t0) / reps);
    }
    console.log(`decode of ${size} random base62 characters: median ${(median(times) * 1000).toFixed(1)} µs`);
  }
}

if (process.argv[2] === "--decode") {
  decodeTimes(process.argv[3]!.split(",").map(Number));
} else if (process.argv[2] === "--flood") {
  const [port, conns, ms, bytes] = process.argv.slice(3).map(Number);
  await flood(port!, conns!, ms!, bytes!);
} else {
  await main();
}
