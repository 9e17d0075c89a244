/**
 * What clustering through Redis costs, measured against the in-memory hub in the same run:
 *   1. broadcast latency, POST `submit` → event parsed by each of 1,000 subscribers:
 *      memory (1 instance), Redis with 1 instance, Redis with 3 instances (334/333/333);
 *   2. submits per second, one event each, 32 in flight: memory vs Redis (1 and 3 instances).
 *
 * Run: BUN_CONFIG_MAX_HTTP_REQUESTS=4096 npx bun bench/redis.ts
 * (Bun's fetch otherwise caps concurrent requests at 256, and each stream holds one.)
 * Everything runs on loopback; every loop is bounded in count and time.
 */
import { startRedis, type RedisNode } from "../test/helpers/redis.ts";
import { eventsUrl, postSubmit, startServer, type Runtime, type RunningServer } from "../test/helpers/server.ts";
import { submitToken, subscribeToken } from "../test/helpers/tokens.ts";

const RUNTIME = (process.env.BENCH_RUNTIME ?? "bun") as Runtime;
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const BROADCASTS = Number(process.env.BENCH_BROADCASTS ?? 200);
const WARMUP = 20;
const SUBMITS = Number(process.env.BENCH_SUBMITS ?? 5000);
const IN_FLIGHT = 32;
const WAIT_MS = 10_000;

interface Scenario {
  readonly name: string;
  readonly servers: RunningServer[];
}

/** One stream, read as raw bytes; calls `onSeq` for each `data: <number>` event. */
async function openReader(url: string, onSeq: (seq: number) => void, abort: AbortSignal): Promise<void> {
  const response = await fetch(url, { signal: abort });
  if (response.status !== 200 || !response.body) throw new Error(`stream answered ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  void (async () => {
    let buffer = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const match = /^data: (\d+)$/m.exec(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (match) onSeq(Number(match[1]));
        }
      }
    } catch {
      // aborted at the end of the scenario
    }
  })();
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const ms = (value: number) => value.toFixed(2);

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Sequential broadcasts to one topic; latency per delivery and per full fan-out. */
async function broadcastLatency({ name, servers }: Scenario) {
  const abort = new AbortController();
  const sentAt = new Map<number, number>();
  const received = new Map<number, number>();
  const perDelivery: number[] = [];
  const fanOut: number[] = [];
  const onSeq = (seq: number) => {
    const now = performance.now();
    const start = sentAt.get(seq);
    if (start === undefined) return;
    if (seq >= WARMUP) perDelivery.push(now - start);
    const count = (received.get(seq) ?? 0) + 1;
    received.set(seq, count);
    if (count === SUBSCRIBERS && seq >= WARMUP) fanOut.push(now - start);
  };
  const token = subscribeToken(["broadcast"]);
  for (let i = 0; i < SUBSCRIBERS; i++) {
    await openReader(eventsUrl(servers[i % servers.length]!, token), onSeq, abort.signal);
  }
  await new Promise((r) => setTimeout(r, 500)); // every subscription acknowledged
  const tokens = Array.from({ length: WARMUP + BROADCASTS }, (_, seq) =>
    submitToken([{ topic: "broadcast", event: "", data: String(seq) }]),
  );
  for (let seq = 0; seq < tokens.length; seq++) {
    sentAt.set(seq, performance.now());
    const response = await postSubmit(servers[seq % servers.length]!, tokens[seq]!);
    if (response.status !== 200) throw new Error(`submit answered ${response.status}`);
    await response.arrayBuffer();
    await waitFor(() => received.get(seq) === SUBSCRIBERS, `broadcast ${seq} in ${name}`);
  }
  abort.abort();
  perDelivery.sort((a, b) => a - b);
  fanOut.sort((a, b) => a - b);
  return {
    name,
    p50: percentile(perDelivery, 50),
    p99: percentile(perDelivery, 99),
    fanOutP50: percentile(fanOut, 50),
    fanOutP99: percentile(fanOut, 99),
  };
}

/** Submits as fast as `IN_FLIGHT` concurrent clients can, spread over the instances. */
async function submitThroughput({ name, servers }: Scenario) {
  const abort = new AbortController();
  let delivered = 0;
  // One subscriber per instance, so every submission really travels to every instance.
  for (const server of servers) await openReader(eventsUrl(server, subscribeToken(["rate"])), () => delivered++, abort.signal);
  await new Promise((r) => setTimeout(r, 300));
  const warmup = Math.ceil(SUBMITS / 5);
  const tokens = Array.from({ length: warmup + SUBMITS }, (_, i) =>
    submitToken([{ topic: "rate", event: "", data: String(i) }]),
  );
  const run = async (from: number, to: number) => {
    let next = from;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (let i = next++; i < to; i = next++) {
          const response = await postSubmit(servers[i % servers.length]!, tokens[i]!);
          if (response.status !== 200) throw new Error(`submit answered ${response.status}`);
          await response.arrayBuffer();
        }
      }),
    );
  };
  await run(0, warmup); // JIT and connection pools warm, not timed
  const started = performance.now();
  await run(warmup, warmup + SUBMITS);
  const seconds = (performance.now() - started) / 1000;
  await waitFor(() => delivered === (warmup + SUBMITS) * servers.length, `deliveries in ${name}`);
  abort.abort();
  return { name, perSecond: SUBMITS / seconds };
}

async function main() {
  const redis: RedisNode = await startRedis();
  const all: RunningServer[] = [];
  const start = async (count: number, env: Record<string, string>) => {
    const started = await Promise.all(Array.from({ length: count }, () => startServer(RUNTIME, { env: { LOG_LEVEL: "info", ...env } })));
    all.push(...started);
    return started;
  };
  try {
    const memory: Scenario = { name: "memory, 1 instance", servers: await start(1, {}) };
    const redisOne: Scenario = { name: "redis, 1 instance", servers: await start(1, { REDIS_URL: redis.url }) };
    const redisThree: Scenario = { name: "redis, 3 instances", servers: await start(3, { REDIS_URL: redis.url }) };

    console.log(`runtime ${RUNTIME}, ${SUBSCRIBERS} subscribers, ${BROADCASTS} broadcasts (+${WARMUP} warm-up)`);
    console.log("| setup | per delivery p50 | p99 | full fan-out p50 | p99 |");
    console.log("| --- | ---: | ---: | ---: | ---: |");
    for (const scenario of [memory, redisOne, redisThree]) {
      const r = await broadcastLatency(scenario);
      console.log(`| ${r.name} | ${ms(r.p50)} ms | ${ms(r.p99)} ms | ${ms(r.fanOutP50)} ms | ${ms(r.fanOutP99)} ms |`);
    }
    console.log(`\n${SUBMITS} submits, ${IN_FLIGHT} in flight`);
    console.log("| setup | submits/s |");
    console.log("| --- | ---: |");
    for (const scenario of [memory, redisOne, redisThree]) {
      const r = await submitThroughput(scenario);
      console.log(`| ${r.name} | ${Math.round(r.perSecond)} |`);
    }
  } finally {
    for (const server of all) await server.stop();
    await redis.stop();
  }
  process.exit(0);
}

await main();
