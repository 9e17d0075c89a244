/**
 * What the shared history (one Redis node) costs a submission, against history off
 * (SSE_HISTORY_SIZE=0: a plain PUBLISH, or MULTI/EXEC for several runs), in one run:
 *   1. submit latency: sequential POST `submit` round trips, one event each;
 *   2. submits per second: one event each, 32 in flight;
 *   3. Redis CPU per submission (INFO commandstats: the script, or the publishes);
 *   4. stream start latency: GET `events` until the opening bytes, fresh and resumed
 *      (10 events replayed), which with a shared history asks Redis first.
 * One Bun instance, one subscriber on the topic, everything on loopback.
 *
 * Run: npx bun bench/history.ts   (BENCH_SUBMITS, BENCH_SEQUENTIAL to change the counts)
 */
import { startRedis, type RedisNode } from "../test/helpers/redis.ts";
import { eventsUrl, postSubmit, startServer, type RunningServer } from "../test/helpers/server.ts";
import { submitToken, subscribeToken } from "../test/helpers/tokens.ts";

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 2000);
const SUBMITS = Number(process.env.BENCH_SUBMITS ?? 10_000);
const IN_FLIGHT = 32;
const STARTS = 300;

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const ms = (value: number) => value.toFixed(3);

async function submitOk(server: RunningServer, token: string): Promise<void> {
  const response = await postSubmit(server, token);
  if (response.status !== 200) throw new Error(`submit answered ${response.status}`);
  await response.arrayBuffer();
}

async function latency(server: RunningServer): Promise<{ p50: number; p99: number }> {
  const tokens = Array.from({ length: SEQUENTIAL + 200 }, (_, i) => submitToken([{ topic: "lat", event: "", data: String(i) }]));
  const times: number[] = [];
  for (const [i, token] of tokens.entries()) {
    const started = performance.now();
    await submitOk(server, token);
    if (i >= 200) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function throughput(server: RunningServer): Promise<number> {
  const warmup = Math.ceil(SUBMITS / 5);
  const tokens = Array.from({ length: warmup + SUBMITS }, (_, i) => submitToken([{ topic: "rate", event: "", data: String(i) }]));
  const run = async (from: number, to: number) => {
    let next = from;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (let i = next++; i < to; i = next++) await submitOk(server, tokens[i]!);
      }),
    );
  };
  await run(0, warmup);
  const started = performance.now();
  await run(warmup, warmup + SUBMITS);
  return SUBMITS / ((performance.now() - started) / 1000);
}

/** Milliseconds until the first body bytes of a stream, for fresh starts or resumes. */
async function startLatency(server: RunningServer, lastId: string | undefined): Promise<{ p50: number; p99: number }> {
  const url = eventsUrl(server, subscribeToken(["starts"]));
  const times: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const abort = new AbortController();
    const started = performance.now();
    const response = await fetch(url, { signal: abort.signal, headers: lastId ? { "Last-Event-ID": lastId } : {} });
    await response.body!.getReader().read();
    times.push(performance.now() - started);
    abort.abort();
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

/** Submits 11 events to `starts` and returns the id of the second: 9 events come after it. */
async function idNineBack(server: RunningServer, signal: AbortSignal): Promise<string> {
  const sample = await fetch(eventsUrl(server, subscribeToken(["starts"])), { signal });
  const reader = sample.body!.getReader();
  for (let i = 0; i < 11; i++) await submitOk(server, submitToken([{ topic: "starts", event: "", data: String(i) }]));
  let text = "";
  const decoder = new TextDecoder();
  // The opening id, then one per event.
  while ((text.match(/^id: /gm)?.length ?? 0) < 12) text += decoder.decode((await reader.read()).value, { stream: true });
  return [...text.matchAll(/^id: (.+)$/gm)][2]![1]!;
}

/** Microseconds of Redis CPU per call of each command, from INFO commandstats. */
function redisCpu(redis: RedisNode): Map<string, { calls: number; usecPerCall: number }> {
  const stats = new Map<string, { calls: number; usecPerCall: number }>();
  for (const line of redis.cli("INFO", "commandstats").split("\n")) {
    const match = /^cmdstat_(\w+(?:\|\w+)?):calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/.exec(line.trim());
    if (match) stats.set(match[1]!, { calls: Number(match[2]), usecPerCall: Number(match[3]) });
  }
  return stats;
}

async function scenario(redis: RedisNode, name: string, historySize: string) {
  redis.cli("FLUSHALL");
  redis.cli("CONFIG", "RESETSTAT");
  const server = await startServer("bun", { env: { REDIS_URL: redis.url, SSE_HISTORY_SIZE: historySize } });
  const abort = new AbortController();
  try {
    // A subscriber on each topic, so every submission is also received and framed.
    for (const topic of ["lat", "rate"]) {
      const response = await fetch(eventsUrl(server, subscribeToken([topic])), { signal: abort.signal });
      void response.body!.pipeTo(new WritableStream()).catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 300));
    const lat = await latency(server);
    const rate = await throughput(server);
    const cpu = redisCpu(redis);
    const submits = cpu.get("evalsha")?.calls ?? (cpu.get("publish")?.calls ?? 0) + (cpu.get("exec")?.calls ?? 0);
    const usec = [...cpu].filter(([command]) => ["evalsha", "eval", "publish", "multi", "exec"].includes(command));
    const cpuPerSubmit = usec.reduce((sum, [, { calls, usecPerCall }]) => sum + calls * usecPerCall, 0) / Math.max(1, submits);
    console.error(`${name}: ${Math.round(rate)} submits/s; measuring stream starts`);
    const fresh = await startLatency(server, undefined);
    const resumed = historySize === "0" ? undefined : await startLatency(server, await idNineBack(server, abort.signal));
    return { name, lat, rate, cpuPerSubmit, fresh, resumed };
  } finally {
    abort.abort();
    await server.stop();
  }
}

async function main() {
  const redis = await startRedis();
  try {
    const results = [];
    for (const [name, size] of [
      ["history off (PUBLISH)", "0"],
      ["shared history (script)", "100"],
      ["history off (PUBLISH)", "0"],
      ["shared history (script)", "100"],
    ] as const) {
      results.push(await scenario(redis, name, size));
    }
    console.log(`\nsubmit latency (${SEQUENTIAL} sequential), submits/s (${SUBMITS}, ${IN_FLIGHT} in flight), Redis CPU per submit`);
    console.log("| setup | submit p50 | p99 | submits/s | Redis µs/submit | fresh start p50 | p99 | resume (9 replayed) p50 | p99 |");
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const r of results) {
      console.log(
        `| ${r.name} | ${ms(r.lat.p50)} ms | ${ms(r.lat.p99)} ms | ${Math.round(r.rate)} | ${r.cpuPerSubmit.toFixed(1)} | ${ms(r.fresh.p50)} ms | ${ms(r.fresh.p99)} ms | ${r.resumed ? `${ms(r.resumed.p50)} ms` : "–"} | ${r.resumed ? `${ms(r.resumed.p99)} ms` : "–"} |`,
      );
    }
  } finally {
    await redis.stop();
  }
  process.exit(0);
}

await main();
