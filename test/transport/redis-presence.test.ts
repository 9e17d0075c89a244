/**
 * Who is listening, over several instances through Redis: three instances (one per
 * runtime) on one Redis node, one of them killed outright and one stopped cleanly; and
 * two instances on a 3-node Redis Cluster, whose presence keys lie on different shards.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DEAD_AFTER_MS } from "../../src/transport/redis/presence.ts";
import { suiteClient } from "../helpers/clients.ts";
import { presenceEvents } from "../helpers/presence.ts";
import { startRedis, startRedisCluster, waitUntil, type RedisCluster, type RedisNode } from "../helpers/redis.ts";
import { presenceOf, RUNTIMES, startServer, type RunningServer } from "../helpers/server.ts";
import { presenceToken } from "../helpers/tokens.ts";

const ask = (server: RunningServer, topics: readonly string[]) => presenceOf(server, presenceToken(topics));

/** Waits until every server answers `expected` for `topics`. */
async function everywhere(servers: readonly RunningServer[], topics: readonly string[], expected: unknown): Promise<void> {
  let last: unknown;
  await waitUntil(
    async () => {
      last = await Promise.all(servers.map((server) => ask(server, topics)));
      return (last as unknown[]).every((answer) => Bun.deepEquals(answer, expected));
    },
    5000,
    "every instance's answer",
  ).catch(() => {
    throw new Error(`not every instance answered ${JSON.stringify(expected)}; last: ${JSON.stringify(last)}`);
  });
}

describe("presence through Redis (one node, three instances)", () => {
  let redis: RedisNode;
  let servers: RunningServer[] = [];
  const client = suiteClient();

  beforeAll(async () => {
    redis = await startRedis();
    servers = await Promise.all(
      RUNTIMES.map((runtime) => startServer(runtime, { env: { REDIS_URL: redis.url, SSE_PRESENCE_EVENTS: "true" } })),
    );
  });
  afterAll(async () => {
    client.closeAll();
    for (const server of servers) await server.stop();
    await redis?.stop();
  });

  test("every instance answers the sum over all three; each one's own streams count at once", async () => {
    const [bun, deno, node] = servers as [RunningServer, RunningServer, RunningServer];
    await everywhere(servers, ["hall"], { topics: { hall: 0 }, instances: 3 });
    await client.subscribe(bun, ["hall"]);
    // Right after the stream opens, its own instance counts it.
    expect(await ask(bun, ["hall"])).toEqual({ topics: { hall: 1 }, instances: 3 });
    await everywhere(servers, ["hall", "side"], { topics: { hall: 1, side: 0 }, instances: 3 });
    await client.subscribe(deno, ["hall", "side"]);
    await client.subscribe(deno, ["hall"]);
    expect(await ask(deno, ["hall", "side"])).toEqual({ topics: { hall: 3, side: 1 }, instances: 3 });
    await everywhere(servers, ["hall", "side"], { topics: { hall: 3, side: 1 }, instances: 3 });
    const leaving = await client.subscribe(node, ["hall"]);
    await everywhere(servers, ["hall", "side"], { topics: { hall: 4, side: 1 }, instances: 3 });
    leaving.close();
    await everywhere(servers, ["hall", "side"], { topics: { hall: 3, side: 1 }, instances: 3 });
  });

  test("an instance whose counts vanished from Redis writes them again whole at its next renewal", async () => {
    const [bun, deno] = servers as [RunningServer, RunningServer];
    await client.subscribe(deno, ["vanishing"]);
    await everywhere([bun], ["vanishing"], { topics: { vanishing: 1 }, instances: 3 });
    // As if deno had stalled past its expiry: its hash is gone.
    const keys = redis.cli("KEYS", "sse:presence:*").split("\n");
    for (const key of keys) redis.cli("DEL", key);
    expect(await ask(bun, ["vanishing"])).toEqual({ topics: { vanishing: 0 }, instances: 1 });
    await everywhere(servers, ["vanishing"], { topics: { vanishing: 1 }, instances: 3 });
  });

  test("presence events carry the count over every instance, reported by the instance that saw the change", async () => {
    const [bun, deno, node] = servers as [RunningServer, RunningServer, RunningServer];
    const watcher = await client.subscribe(bun, ["sse-server:presence"]);
    await client.subscribe(deno, ["stage"]);
    await client.subscribe(deno, ["stage"]);
    expect(await presenceEvents(watcher, "stage", 1)).toEqual([{ event: "presence", topic: "stage", count: 2 }]);
    await client.subscribe(node, ["stage"]);
    expect(await presenceEvents(watcher, "stage", 1)).toEqual([{ event: "presence", topic: "stage", count: 3 }]);
  });

  test(`an instance killed with SIGKILL stops counting within ${DEAD_AFTER_MS} ms (polled, with 1 s of slack); one stopped cleanly at once`, async () => {
    const [bun, deno, node] = servers as [RunningServer, RunningServer, RunningServer];
    for (let i = 0; i < 3; i++) await client.subscribe(node, ["doomed"]);
    await client.subscribe(deno, ["doomed"]);
    await everywhere([bun], ["doomed"], { topics: { doomed: 4 }, instances: 3 });

    await node.stop("SIGKILL");
    const killed = Date.now();
    const survivors = { topics: { doomed: 1 }, instances: 2 };
    await waitUntil(async () => Bun.deepEquals(await ask(bun, ["doomed"]), survivors), DEAD_AFTER_MS + 1000, "the killed instance to stop counting");
    const gone = Date.now() - killed;
    console.log(`presence: a SIGKILLed instance stopped counting after ${gone} ms (bound ${DEAD_AFTER_MS} ms)`);
    // Its streams' counts went with its hash, which expired; only the survivors remain in the set.
    expect(redis.cli("KEYS", "sse:presence:*").split("\n")).toHaveLength(2);
    expect(redis.cli("SCARD", "sse:presence")).toBe("2");

    await deno.stop("SIGTERM");
    // Gone the moment it has exited: it deleted its counts on the way out.
    expect(await ask(bun, ["doomed"])).toEqual({ topics: { doomed: 0 }, instances: 1 });
    expect(redis.cli("KEYS", "sse:presence:*").split("\n")).toHaveLength(1);
  }, 20_000);
});

describe("presence through Redis Cluster (two instances)", () => {
  let cluster: RedisCluster;
  let servers: RunningServer[] = [];
  const client = suiteClient();

  beforeAll(async () => {
    cluster = await startRedisCluster();
    servers = await Promise.all(
      (["bun", "node"] as const).map((runtime) =>
        startServer(runtime, { env: { REDIS_URL: cluster.url, REDIS_CLUSTER: "true", SSE_PRESENCE_EVENTS: "true" } }),
      ),
    );
  }, 40_000);
  afterAll(async () => {
    client.closeAll();
    for (const server of servers) await server.stop();
    await cluster?.stop();
  });

  test("counts are summed over both instances, whose keys lie on different shards; a clean stop leaves at once", async () => {
    const [bun, node] = servers as [RunningServer, RunningServer];
    await client.subscribe(bun, ["c-1", "c-2"]);
    await client.subscribe(node, ["c-1"]);
    await everywhere(servers, ["c-1", "c-2"], { topics: { "c-1": 2, "c-2": 1 }, instances: 2 });
    // The set and one hash per instance, each on the shard that owns its slot.
    const keys = cluster.nodes.flatMap((n) => (n.cli("KEYS", "sse:presence*") || undefined)?.split("\n") ?? []);
    expect(keys).toHaveLength(3);
    for (const key of keys) expect(cluster.ownerOf(key).cli("EXISTS", key)).toBe("1");

    const watcher = await client.subscribe(bun, ["sse-server:presence"]);
    await client.subscribe(node, ["c-2"]);
    expect(await presenceEvents(watcher, "c-2", 1)).toEqual([{ event: "presence", topic: "c-2", count: 2 }]);

    await node.stop("SIGTERM");
    expect(await ask(bun, ["c-1", "c-2"])).toEqual({ topics: { "c-1": 1, "c-2": 1 }, instances: 1 });
  }, 20_000);
});
