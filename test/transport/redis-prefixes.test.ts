/**
 * Prefix grants through one Redis node: pattern subscriptions beside channel ones on one
 * connection (each message passed on once), across instances, and the shared history's
 * honest `reset` for a prefix resume.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import type { SseEvent } from "../../src/sse.ts";
import { RedisTransport } from "../../src/transport/redis.ts";
import type { Transport, TransportSink } from "../../src/transport/transport.ts";
import { suiteClient } from "../helpers/clients.ts";
import { numSub, startRedis, waitUntil, type RedisNode } from "../helpers/redis.ts";
import { startServer, type RunningServer } from "../helpers/server.ts";
import type { ReceivedEvent } from "../helpers/sse.ts";
import { SECRET_HEX, type TestEvent } from "../helpers/tokens.ts";

const ev = (topic: string, data: string): SseEvent => ({ topic, event: "e", data });
const datas = (events: readonly { data: string }[]) => events.map((e) => e.data);

let redis: RedisNode;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const patterns = (node = redis) => Number(node.cli("PUBSUB", "NUMPAT"));

describe("RedisTransport with prefixes (in process)", () => {
  const transports: Transport[] = [];
  afterAll(async () => {
    for (const transport of transports) await transport.close();
  });
  /** A transport, the events it hands its hub, and how often it ended every stream (then calling `onEndAll`). */
  async function connect(channelPrefix: string, history = false, node = redis) {
    const events: SseEvent[] = [];
    const ends = { count: 0, onEndAll: () => {} };
    const sink: TransportSink = {
      deliver: (batch) => void events.push(...batch),
      deliverNumbered: (batch) => void events.push(...batch.map(({ topic, event, data }) => ({ topic, event, data }))),
      endAllStreams: () => {
        ends.count++;
        ends.onEndAll();
      },
      coverageGained: () => {},
      coverageLost: () => {},
      audienceSize: () => 0,
      grantSize: () => 0,
      grants: () => [],
    };
    const config = loadConfig({
      SSE_SECRET: SECRET_HEX,
      REDIS_URL: node.url,
      REDIS_CHANNEL_PREFIX: channelPrefix,
      SSE_HISTORY_SIZE: history ? "100" : "0",
    });
    const transport = await RedisTransport.connect(config, sink, createLogger("error", () => {}));
    transports.push(transport);
    expect(transport.deliversPrefixes).toBe(true);
    return { transport, events, ends };
  }

  test("a topic's channel and overlapping prefixes on one connection: each message once, in order, while they come and go", async () => {
    const { transport: receiver, events } = await connect("o:");
    const { transport: publisher } = await connect("o:");
    receiver.prefixOpened("a/");
    receiver.prefixOpened("a/b/");
    receiver.topicOpened("a/b/c");
    await waitUntil(() => patterns() === 2 && numSub(redis, "o:a/b/c") === 1, 5000, "subscriptions");
    await publisher.publish([ev("a/b/c", "1"), ev("a/x", "2"), ev("b", "not wanted"), ev("a/b/d", "3")]);
    await waitUntil(() => events.length >= 3, 3000, "delivery");
    // The submission's events on other channels follow each other through the same connection.
    await Bun.sleep(100);
    expect(datas(events)).toEqual(["1", "2", "3"]);

    // "a/" stays throughout; the channel and the longer prefix are dropped and taken again
    // between publishes, so their (un)subscribe replies land among the messages.
    events.length = 0;
    const sent: string[] = [];
    for (let i = 0; i < 150; i++) {
      if (i % 3 === 0) receiver.topicClosed("a/b/c");
      if (i % 3 === 1) receiver.topicOpened("a/b/c");
      if (i % 5 === 0) receiver.prefixClosed("a/b/");
      if (i % 5 === 2) receiver.prefixOpened("a/b/");
      sent.push(String(i));
      await publisher.publish([ev(i % 2 ? "a/b/c" : "a/b/z", String(i))]);
    }
    await waitUntil(() => events.length >= sent.length, 5000, "every event");
    await Bun.sleep(100);
    expect(datas(events)).toEqual(sent);
  });

  test("the prefix is matched literally (glob characters escaped), and its pattern dropped with its last stream", async () => {
    const { transport: receiver, events } = await connect("g:");
    const { transport: publisher } = await connect("g:");
    const before = patterns();
    receiver.prefixOpened("q*[?]\\");
    await waitUntil(() => patterns() === before + 1, 5000, "pattern subscription");
    await publisher.publish([ev("q*[?]\\1", "mine"), ev("qz[?]\\1", "not mine"), ev("q*[a]\\1", "not mine"), ev("q*[?]x", "not mine")]);
    await waitUntil(() => events.length >= 1, 3000, "delivery");
    await Bun.sleep(100);
    expect(datas(events)).toEqual(["mine"]);
    receiver.prefixClosed("q*[?]\\");
    await waitUntil(() => patterns() === before, 5000, "pattern dropped");
  });

  test("shared history: a prefix stream's start waits for its pattern; its resume is reset: no-prefix-replay", async () => {
    const { transport, events } = await connect("h:", true);
    const before = patterns();
    transport.prefixOpened("p/");
    const start = await transport.sharedHistory!.start([], undefined, ["p/"]);
    expect(patterns()).toBe(before + 1);
    expect(start.missed).toBeUndefined();
    await transport.publish([ev("p/1", "live")]);
    await waitUntil(() => events.length === 1, 3000, "live delivery");
    const resumed = await transport.sharedHistory!.start([], start.afterId, ["p/"]);
    expect(resumed.missed).toEqual({ ok: false, reason: "no-prefix-replay" });
    expect(resumed.after).toBeGreaterThan(start.after);
  });

  test("Redis lost with only prefix streams: they are ended; one opened during the outage is ended on recovery; the pattern comes back", async () => {
    const own = await startRedis();
    try {
      const { transport, events, ends } = await connect("f:", false, own);
      transport.prefixOpened("p/");
      ends.onEndAll = () => transport.prefixClosed("p/"); // as the hub does for the streams it ends
      await waitUntil(() => patterns(own) === 1, 5000, "pattern subscription");
      await own.kill();
      await waitUntil(() => !transport.ready, 3000, "not ready");
      expect(ends.count).toBe(1);
      transport.prefixOpened("p/"); // a prefix stream opening during the outage…
      await own.restart();
      await waitUntil(() => transport.ready, 10_000, "ready again");
      expect(ends.count).toBe(2); // …is ended: it may have missed what others published meanwhile
      transport.prefixOpened("p/");
      await waitUntil(() => patterns(own) === 1, 5000, "pattern subscribed again");
      await transport.publish([ev("p/1", "after")]);
      await waitUntil(() => events.length === 1, 3000, "delivery after recovery");
      expect(datas(events)).toEqual(["after"]);
    } finally {
      await own.stop();
    }
  }, 20_000);
});

describe("prefix grants across instances (one Redis node)", () => {
  const client = suiteClient();
  const one = (topic: string, data: string): TestEvent => ({ topic, event: "n", data });
  let plain: RunningServer[] = [];
  let shared: RunningServer[] = [];

  beforeAll(async () => {
    const start = (runtime: "bun" | "node" | "deno", env: Record<string, string>) =>
      startServer(runtime, { env: { REDIS_URL: redis.url, ...env } });
    [plain, shared] = await Promise.all([
      Promise.all([start("bun", { SSE_HISTORY_SIZE: "0", REDIS_CHANNEL_PREFIX: "plain:" }), start("node", { SSE_HISTORY_SIZE: "0", REDIS_CHANNEL_PREFIX: "plain:" })]),
      Promise.all([start("deno", { SSE_HISTORY_SIZE: "20" }), start("node", { SSE_HISTORY_SIZE: "20" })]),
    ]);
  });
  afterAll(async () => {
    client.closeAll();
    for (const server of [...plain, ...shared]) await server.stop();
  });

  /** With history off, a stream's response may begin before Redis acknowledged its pattern. */
  const patternsOf = (server: RunningServer) => waitUntil(() => patterns() > 0, 5000, `${server.runtime}'s pattern`);

  test("submitted on one instance, received on another by a prefix stream beside an exact one, once each", async () => {
    const [a, b] = plain as [RunningServer, RunningServer];
    const prefix = await client.subscribePrefixes(b, ["other"], ["room-7/"]);
    const exact = await client.subscribe(b, ["room-7/chat"]);
    await patternsOf(b);
    await waitUntil(() => numSub(redis, "plain:room-7/chat") === 1 && numSub(redis, "plain:other") === 1, 5000, "channels");
    await client.submit(a, [one("room-7/chat", "1"), one("room-70/chat", "not mine"), one("other", "2"), one("room-7/presence", "3")]);
    expect(datas(await prefix.next(3))).toEqual(["1", "2", "3"]);
    expect(datas(await exact.next(1))).toEqual(["1"]);
    await Bun.sleep(100);
    expect(prefix.pending).toEqual([]);
    expect(exact.pending).toEqual([]);
  });

  test("shared history: live through any instance; a resume is an honest reset, then live", async () => {
    const [a, b] = shared as [RunningServer, RunningServer];
    const first = await client.subscribePrefixes(a, [], ["inbox-3/"]);
    await client.submit(b, [one("inbox-3/x", "seen")]);
    const [seen] = await first.next(1);
    expect(seen!.data).toBe("seen");
    first.close();
    await client.submit(b, [one("inbox-3/y", "missed")]);
    const resumed = await client.subscribePrefixes(b, [], ["inbox-3/"], seen!.id);
    const [reset] = await resumed.next(1);
    expect(reset).toMatchObject({ event: "reset", data: "no-prefix-replay" } satisfies Partial<ReceivedEvent>);
    expect(reset!.id).toBeDefined();
    await client.submit(a, [one("inbox-3/z", "live")]);
    expect(datas(await resumed.next(1))).toEqual(["live"]);
  });
});
