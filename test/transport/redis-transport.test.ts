/**
 * The Redis transport in process, against a real redis-server: subscription races,
 * whole submissions, loss and recovery, seen through the seam the hub uses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import type { SseEvent } from "../../src/sse.ts";
import { RedisTransport, retryDelay } from "../../src/transport/redis.ts";
import { TransportUnavailable, type Transport } from "../../src/transport/transport.ts";
import { numSub, startRedis, waitUntil, type RedisNode } from "../helpers/redis.ts";
import { SECRET_HEX } from "../helpers/tokens.ts";

/** A sink that records what the transport hands it. */
class RecordingSink {
  readonly batches: SseEvent[][] = [];
  streamsEnded = 0;
  readonly coverage: string[] = [];
  onEndAll: () => void = () => {};
  coverageGained(topic: string): void {
    this.coverage.push(`+${topic}`);
  }
  coverageLost(topic?: string): void {
    this.coverage.push(`-${topic ?? "*"}`);
  }
  deliver(events: readonly SseEvent[]): void {
    this.batches.push([...events]);
  }
  deliverNumbered(events: readonly SseEvent[]): void {
    this.batches.push(events.map(({ topic, event, data }) => ({ topic, event, data })));
  }
  endAllStreams(): void {
    this.streamsEnded++;
    this.onEndAll();
  }
  get events(): SseEvent[] {
    return this.batches.flat();
  }
  /** This instance's streams per topic grant and per prefix grant, as the hub would count them. */
  readonly audience = new Map<string, number>();
  readonly prefixAudience = new Map<string, number>();
  audienceSize(topic: string): number {
    let size = this.audience.get(topic) ?? 0;
    for (const [prefix, count] of this.prefixAudience) if (topic.startsWith(prefix)) size += count;
    return size;
  }
  grantSize(grant: string, prefix: boolean): number {
    return (prefix ? this.prefixAudience : this.audience).get(grant) ?? 0;
  }
  *grants(): Iterable<readonly [string, boolean, number]> {
    for (const [topic, count] of this.audience) yield [topic, false, count];
    for (const [prefix, count] of this.prefixAudience) yield [prefix, true, count];
  }
}

const ev = (topic: string, data: string, event = "e"): SseEvent => ({ topic, event, data });

describe("RedisTransport (in process, real Redis)", () => {
  let redis: RedisNode;
  const transports: Transport[] = [];
  const logs: string[] = [];

  const connect = async (sink: RecordingSink, prefix = "unit:", historyTtl = "0") => {
    const config = loadConfig({
      SSE_SECRET: SECRET_HEX,
      REDIS_URL: redis.url,
      REDIS_CHANNEL_PREFIX: prefix,
      // History off (or shared in Redis): topics unsubscribe as soon as their last stream leaves.
      SSE_HISTORY_SIZE: historyTtl === "0" ? "0" : "100",
      SSE_HISTORY_TTL: historyTtl === "0" ? "300" : historyTtl,
    });
    const transport = await RedisTransport.connect(config, sink, createLogger("debug", (line) => logs.push(line)));
    transports.push(transport);
    return transport;
  };
  const subscribers = (channel: string, count: number) =>
    waitUntil(() => numSub(redis, channel) === count, 5000, `${count} subscribers of ${channel}`);

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const transport of transports) await transport.close();
    await redis?.stop();
  });

  test("opened, closed and re-opened in one go: subscribed once, in the end", async () => {
    const sink = new RecordingSink();
    const transport = await connect(sink);
    transport.topicOpened("race");
    transport.topicClosed("race");
    transport.topicOpened("race");
    await subscribers("unit:race", 1);
    // Now with the unsubscribe surely on the wire before the topic is wanted again.
    transport.topicClosed("race");
    await Promise.resolve();
    transport.topicOpened("race");
    await Bun.sleep(100);
    expect(numSub(redis, "unit:race")).toBe(1);
    await transport.publish([ev("race", "still subscribed")]);
    await waitUntil(() => sink.events.length === 1, 3000, "delivery");
    transport.topicClosed("race");
    await subscribers("unit:race", 0);
  });

  test("a submission across topics reaches another instance whole and in order", async () => {
    const publisherSink = new RecordingSink();
    const receiverSink = new RecordingSink();
    const publisher = await connect(publisherSink);
    const receiver = await connect(receiverSink);
    for (const topic of ["x", "y"]) receiver.topicOpened(topic);
    await subscribers("unit:x", 1);
    await subscribers("unit:y", 1);
    const submission = [ev("x", "1"), ev("x", "2"), ev("y", "3"), ev("x", "4"), ev("z", "nobody"), ev("y", "5")];
    await publisher.publish(submission);
    await waitUntil(() => receiverSink.events.length === 5, 3000, "delivery");
    expect(receiverSink.events).toEqual(submission.filter((e) => e.topic !== "z"));
    // Runs of one topic travel as one message.
    expect(receiverSink.batches.map((batch) => batch.length)).toEqual([2, 1, 1, 1]);
    // The publisher hears nothing: it has no local subscribers.
    expect(publisherSink.events).toEqual([]);
  });

  test("Redis lost: not ready, streams ended, publish refused; back: ready again by itself", async () => {
    const sink = new RecordingSink();
    const transport = await connect(sink, "loss:");
    transport.topicOpened("t");
    // The hub closes the topics of the streams it ends.
    sink.onEndAll = () => transport.topicClosed("t");
    await subscribers("loss:t", 1);
    expect(transport.ready).toBe(true);

    await redis.kill();
    await waitUntil(() => !transport.ready, 3000, "not ready");
    expect(sink.streamsEnded).toBe(1);
    const refused = await transport.publish([ev("t", "during the outage")]).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TransportUnavailable);
    const unanswered = await transport.presence(["t"]).catch((error: unknown) => error);
    expect(unanswered).toBeInstanceOf(TransportUnavailable);

    // A stream opening during the outage…
    transport.topicOpened("t");
    await redis.restart();
    await waitUntil(() => transport.ready, 10_000, "ready again");
    // …is ended on recovery: it may have missed what other instances published meanwhile.
    expect(sink.streamsEnded).toBe(2);
    transport.topicOpened("t");
    await subscribers("loss:t", 1);
    await transport.publish([ev("t", "after")]);
    await waitUntil(() => sink.events.length === 1, 3000, "delivery after recovery");
    expect(sink.events).toEqual([ev("t", "after")]);
  }, 20_000);

  test("with a shared history a topic does not linger; a stream's start waits for its subscription", async () => {
    const sink = new RecordingSink();
    const transport = await connect(sink, "shared:", "1");
    expect(transport.sharedHistory).toBeDefined();
    transport.topicOpened("t");
    const start = await transport.sharedHistory!.start(["t"], undefined);
    // Resolved only once Redis acknowledged the subscription: later events reach us live.
    expect(numSub(redis, "shared:t")).toBe(1);
    expect(sink.coverage).toEqual(["+t"]);
    expect(start.missed).toBeUndefined();
    await transport.publish([ev("t", "1"), ev("u", "x"), ev("t", "2")]);
    await waitUntil(() => sink.events.length === 2, 3000, "delivery");
    // Stored in Redis too, numbered after the start.
    const resumed = await transport.sharedHistory!.start(["t"], start.afterId);
    expect(resumed.missed?.ok && resumed.missed.events.map((e) => [e.data, e.position > start.after])).toEqual([
      ["1", true],
      ["2", true],
    ]);
    transport.topicClosed("t");
    await subscribers("shared:t", 0); // at once: the history is in Redis, not here
    expect(sink.coverage).toEqual(["+t", "-t"]);
  });

  test("presence: live instances and their counts summed; presence([]) asks only how many instances", async () => {
    const [sinkA, sinkB] = [new RecordingSink(), new RecordingSink()];
    const a = await connect(sinkA, "presence:");
    const b = await connect(sinkB, "presence:");
    sinkA.audience.set("t", 2);
    a.audiencesChanged(["t"], []);
    sinkB.audience.set("t", 1).set("u", 4);
    b.audiencesChanged(["t", "u"], []);
    await waitUntil(async () => (await a.presence(["t"])).topics.t === 3, 3000, "B's count written");
    expect(await a.presence(["t", "u", "none"])).toEqual({ topics: { t: 3, u: 4, none: 0 }, instances: 2 });
    expect(await b.presence([])).toEqual({ topics: {}, instances: 2 });
    // An instance's own streams are read from its hub at the query, not from Redis.
    sinkA.audience.set("t", 5);
    expect((await a.presence(["t"])).topics).toEqual({ t: 6 });
    sinkB.audience.delete("u");
    b.audiencesChanged(["u"], []);
    await waitUntil(async () => (await a.presence(["u"])).topics.u === 0, 3000, "B's count of u gone");
    await b.close();
    // Closed: gone at once, its hash deleted.
    expect(await a.presence(["t"])).toEqual({ topics: { t: 5 }, instances: 1 });
    expect(redis.cli("KEYS", "presence:presence:*").split("\n")).toHaveLength(1);
  });

  test("presence: another instance's prefix grants count for every topic under them, each stream once", async () => {
    const [sinkA, sinkB] = [new RecordingSink(), new RecordingSink()];
    const a = await connect(sinkA, "presence-prefix:");
    const b = await connect(sinkB, "presence-prefix:");
    sinkB.prefixAudience.set("user-42/", 2).set("user-4", 1).set("é", 1);
    sinkB.audience.set("user-42/inbox", 3);
    b.audiencesChanged(["user-42/inbox"], ["user-42/", "user-4", "é"]);
    sinkA.prefixAudience.set("user-", 1);
    await waitUntil(async () => (await a.presence(["user-42/inbox"])).topics["user-42/inbox"] === 7, 3000, "B's prefix counts written");
    expect((await a.presence(["user-42/inbox", "user-43", "user-", "éa", "other"])).topics).toEqual({
      "user-42/inbox": 7, // 3 by topic + 2 + 1 by prefix on B, 1 by prefix on A
      "user-43": 2,
      "user-": 1,
      "éa": 1,
      other: 0,
    });
    // A long topic costs one lookup per prefix length B has (3 here), not one per byte: a
    // field per byte of 40,000 would be 800 MB of arguments, and Redis would not answer
    // within the command timeout (the query then fails and the connection counts as lost).
    const long = `user-42/${"x".repeat(40_000)}`;
    expect((await a.presence([long])).topics[long]).toBe(4); // 2 + 1 on B, 1 on A
    sinkB.prefixAudience.delete("user-42/");
    b.audiencesChanged([], ["user-42/"]);
    await waitUntil(async () => (await a.presence(["user-42/inbox"])).topics["user-42/inbox"] === 5, 3000, "B's prefix count gone");
  });

  test("retries back off exponentially, capped, with jitter", () => {
    const middle = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 10, 100].map((attempt) => retryDelay(attempt, middle))).toEqual([
      100, 200, 400, 800, 1600, 2000, 2000, 2000,
    ]);
    expect(retryDelay(1, () => 0)).toBe(80);
    expect(retryDelay(1, () => 1)).toBe(120);
  });
});
