/**
 * What presence costs, in one run:
 *   1. in process: hub subscribe + unsubscribe of a one-topic stream, with and without
 *      the audience listener the server installs (the only work presence adds to every
 *      stream's open and close), alternating rounds;
 *   2. over HTTP: `POST presence` latency for 10 topics, one query at a time: one
 *      instance in memory vs three instances through one Redis (the answering instance
 *      reads the two others' counts), each with 120 open streams over those topics.
 *
 * Run: npx bun bench/presence.ts. Loopback only; every loop is bounded in count.
 */
import { Hub, type Subscriber } from "../src/hub.ts";
import { startRedis } from "../test/helpers/redis.ts";
import { eventsUrl, postPresence, startServer, type RunningServer } from "../test/helpers/server.ts";
import { presenceToken, subscribeToken } from "../test/helpers/tokens.ts";
import { median, quantile } from "./lib.ts";

const STREAMS = 200_000;
const ROUNDS = 7;
const QUERIES = Number(process.env.BENCH_QUERIES ?? 2000);
// Both sets stay open together, under the 256 requests Bun's fetch holds at once.
const OPEN_STREAMS = 120;
const TOPICS = Array.from({ length: 10 }, (_, i) => `room-${i}`);

function nsPerOpenClose(listen: boolean): number {
  const hub = new Hub();
  let changes = 0;
  if (listen) hub.watchAudiences((topics) => void (changes += topics.length));
  const subscribers: Subscriber[] = Array.from({ length: STREAMS }, () => ({ active: true, push() {}, end() {} }));
  const started = performance.now();
  for (let i = 0; i < STREAMS; i++) hub.subscribe(subscribers[i]!, [`user-${i % 5000}`]);
  for (let i = 0; i < STREAMS; i++) hub.unsubscribe(subscribers[i]!, [`user-${i % 5000}`]);
  const ns = ((performance.now() - started) * 1e6) / STREAMS;
  if (listen && changes !== 2 * STREAMS) throw new Error("listener missed changes");
  return ns;
}

const withListener: number[] = [];
const without: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  withListener.push(nsPerOpenClose(true));
  without.push(nsPerOpenClose(false));
}
console.log(
  `hub open+close of a one-topic stream: ${median(without).toFixed(0)} ns without the audience listener, ` +
    `${median(withListener).toFixed(0)} ns with it (medians of ${ROUNDS} rounds of ${STREAMS})`,
);

/** Opens `count` streams spread over the servers and topics; returns what closes them. */
async function openStreams(servers: readonly RunningServer[], count: number): Promise<AbortController> {
  const abort = new AbortController();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const server = servers[i % servers.length]!;
      const response = await fetch(eventsUrl(server, subscribeToken([TOPICS[i % TOPICS.length]!])), { signal: abort.signal });
      if (response.status !== 200) throw new Error(`stream answered ${response.status}`);
      void response.body?.pipeTo(new WritableStream()).catch(() => {});
    }),
  );
  return abort;
}

/** Sequential queries to `server`; latencies in ms, after checking the total once. */
async function queryLatencies(server: RunningServer): Promise<number[]> {
  const token = presenceToken(TOPICS);
  const answer = (await (await postPresence(server, token)).json()) as { topics: Record<string, number> };
  const total = Object.values(answer.topics).reduce((a, b) => a + b, 0);
  if (total !== OPEN_STREAMS) throw new Error(`counted ${total} streams, expected ${OPEN_STREAMS}`);
  const latencies: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const started = performance.now();
    const response = await postPresence(server, token);
    await response.text();
    latencies.push(performance.now() - started);
  }
  return latencies.sort((a, b) => a - b);
}

const describe = (name: string, ms: number[]) =>
  `${name}: median ${median(ms).toFixed(3)} ms, p99 ${quantile(ms, 0.99).toFixed(3)} ms over ${ms.length} queries`;

const memory = await startServer("bun");
const redis = await startRedis();
const clustered = await Promise.all([0, 1, 2].map(() => startServer("bun", { env: { REDIS_URL: redis.url } })));
try {
  const memoryStreams = await openStreams([memory], OPEN_STREAMS);
  const clusterStreams = await openStreams(clustered, OPEN_STREAMS);
  await new Promise((resolve) => setTimeout(resolve, 500)); // the instances' counts written
  const alone = await queryLatencies(memory);
  const summed = await queryLatencies(clustered[0]!);
  console.log(describe("POST presence, 10 topics, memory (1 instance)", alone));
  console.log(describe("POST presence, 10 topics, Redis (3 instances)", summed));
  console.log(`ratio of medians Redis/memory: ${(median(summed) / median(alone)).toFixed(2)}`);
  memoryStreams.abort();
  clusterStreams.abort();
} finally {
  for (const server of [memory, ...clustered]) await server.stop();
  await redis.stop();
}
