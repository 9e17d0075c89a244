/**
 * Sharded pub/sub on a real 3-node Redis Cluster (SPUBLISH/SSUBSCRIBE): topics spread over
 * every shard, one instance per runtime, per-topic order everywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { numSub, readiness, shardNumSub, startRedisCluster, waitUntil, type RedisCluster } from "../helpers/redis.ts";
import { eventsUrl, expectHealthy, postSubmit, RUNTIMES, startServer, type RunningServer } from "../helpers/server.ts";
import { suiteClient } from "../helpers/clients.ts";
import { mint, prefixToken, submitToken } from "../helpers/tokens.ts";

describe("clustering through Redis Cluster (sharded pub/sub)", () => {
  let cluster: RedisCluster;
  let servers: RunningServer[] = [];
  /** Two topics owned by each of the three shards. */
  let topics: string[] = [];
  const client = suiteClient();
  const { subscribe, submit } = client;
  const shardSubscribers = (topic: string) => shardNumSub(cluster.ownerOf(`sse:${topic}`), `sse:${topic}`);

  beforeAll(async () => {
    cluster = await startRedisCluster();
    for (const node of cluster.nodes) {
      const owned = Array.from({ length: 60 }, (_, i) => `topic-${i}`).filter((t) => cluster.ownerOf(`sse:${t}`) === node);
      topics.push(...owned.slice(0, 2));
    }
    servers = await Promise.all(
      RUNTIMES.map((runtime) =>
        startServer(runtime, { env: { REDIS_URL: cluster.url, REDIS_CLUSTER: "true", LOG_LEVEL: "debug", SSE_HISTORY_TTL: "1" } }),
      ),
    );
  }, 40_000);
  afterAll(async () => {
    client.closeAll();
    for (const server of servers) await server.stop();
    await cluster?.stop();
  });

  test("topics on every shard: every instance gets every submission, in order per topic", async () => {
    expect(topics).toHaveLength(6);
    for (const server of servers) expect(await readiness(server.url)).toBe(200);
    const streams = await Promise.all(servers.map((server) => subscribe(server, topics)));
    await waitUntil(() => topics.every((topic) => shardSubscribers(topic) === 3), 5000, "sharded subscriptions");
    // Sharded only: nothing subscribed through plain pub/sub on any node.
    for (const node of cluster.nodes) expect(numSub(node, `sse:${topics[0]}`)).toBe(0);

    const perInstance = 10;
    await Promise.all(
      servers.map(async (server) => {
        for (let i = 0; i < perInstance; i++) {
          await submit(server, topics.map((topic) => ({ topic, event: topic, data: `${server.runtime}#${i}` })));
        }
      }),
    );

    const total = servers.length * perInstance * topics.length;
    const received = await Promise.all(streams.map((stream) => stream.next(total, 10_000)));
    for (const topic of topics) {
      const perStream = received.map((events) => events.filter((e) => e.event === topic).map((e) => e.data));
      // Every instance sees the topic's events in one same order…
      for (const seen of perStream) expect(seen).toEqual(perStream[0]!);
      // …with each instance's submissions in the order it accepted them.
      for (const server of servers) {
        expect(perStream[0]!.filter((data) => data.startsWith(`${server.runtime}#`))).toEqual(
          Array.from({ length: perInstance }, (_, i) => `${server.runtime}#${i}`),
        );
      }
    }
    for (const stream of streams) stream.close();
    await waitUntil(() => topics.every((topic) => shardSubscribers(topic) === 0), 5000, "sharded unsubscriptions");
    for (const server of servers) {
      await expectHealthy(server);
      // Shard connections closed by the client itself (no channel left) are no loss.
      expect(server.logs.filter((line) => line.includes("redis connection lost"))).toEqual([]);
    }
  }, 40_000);

  test("history stays per instance: resume on the same instance replays, elsewhere it is a reset", async () => {
    const [first, second] = servers as [RunningServer, RunningServer];
    const topic = topics[0]!;
    const stream = await subscribe(first, [topic]);
    await waitUntil(() => shardSubscribers(topic) >= 1, 5000, "subscribed");
    await submit(first, [{ topic, event: "e", data: "seen" }]);
    const lastId = (await stream.next(1))[0]!.id!;
    stream.close();
    // Within the linger (SSE_HISTORY_TTL=1), through another instance.
    await submit(second, [{ topic, event: "e", data: "missed" }]);
    const same = await subscribe(first, [topic], lastId);
    expect((await same.next(1))[0]!.data).toBe("missed");
    const elsewhere = await subscribe(second, [topic], lastId);
    expect((await elsewhere.next(1))[0]).toMatchObject({ event: "reset", data: "unknown-id" });
    same.close();
    elsewhere.close();
  });

  test("a prefix grant is refused with 400 (sharded pub/sub has no pattern subscribe); topics-only tokens are served", async () => {
    for (const server of servers) {
      const refused = await fetch(eventsUrl(server, prefixToken([topics[0]!], ["user-42/"])));
      expect({ on: server.runtime, status: refused.status, body: await refused.text() }).toEqual({
        on: server.runtime,
        status: 400,
        body: "prefix grants are not available with REDIS_CLUSTER (sharded pub/sub has no pattern subscribe)",
      });
      const served = await subscribe(server, [topics[0]!]);
      expect(served.response.status).toBe(200);
      served.close();
    }
  });

  test("the same id to every instance at once, topics on every shard: delivered once", async () => {
    const streams = await Promise.all(servers.map((server) => subscribe(server, topics)));
    await waitUntil(() => topics.every((topic) => shardSubscribers(topic) === 3), 5000, "sharded subscriptions");
    const submitOnce = async (server: RunningServer, id: string, data: string) => {
      const payload = { id, events: topics.map((topic) => ({ topic, event: topic, data })) };
      const response = await postSubmit(server, mint(payload));
      return `${response.status} ${await response.text()}`;
    };
    const answers = await Promise.all(servers.map((server) => submitOnce(server, "sharded-once", `from ${server.runtime}`)));
    expect(answers).toEqual(servers.map(() => "200 OK"));
    expect(await submitOnce(servers[0]!, "sharded-other", "other")).toBe("200 OK");
    await submit(servers[1]!, topics.map((topic) => ({ topic, event: topic, data: "marker" })));
    const received = await Promise.all(streams.map((stream) => stream.next(3 * topics.length, 10_000)));
    const winner = received[0]![0]!.data;
    expect(winner).toMatch(/^from /);
    for (const events of received) {
      for (const topic of topics) {
        expect(events.filter((e) => e.event === topic).map((e) => e.data)).toEqual([winner, "other", "marker"]);
      }
    }
    for (const stream of streams) stream.close();
  }, 20_000);

  test("a shard lost: not ready, streams closed, 503; back: recovered without restart", async () => {
    const streams = await Promise.all(servers.map((server) => subscribe(server, topics)));
    await waitUntil(() => topics.every((topic) => shardSubscribers(topic) === 3), 5000, "sharded subscriptions");
    const shard = cluster.nodes[1]!;
    await shard.kill();
    for (const stream of streams) expect(await stream.ended).toBe(true);
    for (const server of servers) {
      expect(await readiness(server.url)).toBe(503);
      expect((await postSubmit(server, submitToken([{ topic: topics[0]!, event: "e", data: "x" }]))).status).toBe(503);
    }
    await shard.restart(); // same port and node config: it rejoins with its slots
    await waitUntil(
      async () => (await Promise.all(servers.map((server) => readiness(server.url)))).every((s) => s === 200),
      20_000,
      "every instance ready again",
    );
    const [first] = await Promise.all(servers.map((server) => subscribe(server, topics)));
    await waitUntil(() => topics.every((topic) => shardSubscribers(topic) === 3), 10_000, "sharded subscriptions again");
    await submit(servers[2]!, topics.map((topic) => ({ topic, event: topic, data: "after" })));
    expect((await first!.next(topics.length)).map((e) => e.event).sort()).toEqual([...topics].sort());
  }, 60_000);
});
