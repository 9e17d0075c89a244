/**
 * Clustering through one real Redis: three instances, one per runtime (Bun, Deno, Node),
 * subscribers on each and submissions to each.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { numSub, readiness, startRedis, waitUntil, type RedisNode } from "../helpers/redis.ts";
import { expectHealthy, RUNTIMES, startServer, waitForLog, type RunningServer } from "../helpers/server.ts";
import { suiteClient } from "../helpers/clients.ts";
import type { ReceivedEvent } from "../helpers/sse.ts";

describe("clustering through Redis (one node)", () => {
  let redis: RedisNode;
  let servers: RunningServer[];
  const client = suiteClient();
  const { subscribe, submit } = client;
  /** Waits until `count` instances have subscribed to the topic in Redis. */
  const subscribedBy = (topic: string, count: number) =>
    waitUntil(() => numSub(redis, `sse:${topic}`) === count, 5000, `${count} subscribers of ${topic}`);

  beforeAll(async () => {
    redis = await startRedis();
    servers = await Promise.all(
      RUNTIMES.map((runtime) =>
        startServer(runtime, {
          // A 1 s history keeps a topic subscribed only 1 s after its last stream leaves.
          env: { REDIS_URL: `${redis.url}/0`, LOG_LEVEL: "debug", SSE_HISTORY_TTL: "1" },
        }),
      ),
    );
  });
  afterAll(async () => {
    client.closeAll();
    for (const server of servers ?? []) {
      if (server.process.exitCode === null && server.process.signalCode === null) await expectHealthy(server);
      expect(server.logs.filter((line) => line.includes("redis connection lost"))).toEqual([]);
      await server.stop();
    }
    await redis?.stop();
  });

  test("every instance is ready", async () => {
    for (const server of servers) expect(await readiness(server.url)).toBe(200);
  });

  test("every subscriber on every instance gets every submission, in one same order", async () => {
    // Two subscribers per instance: one on both topics, one on `left` only.
    const both = await Promise.all(servers.map((server) => subscribe(server, ["left", "right"])));
    const leftOnly = await Promise.all(servers.map((server) => subscribe(server, ["left"])));
    await subscribedBy("left", 3);
    await subscribedBy("right", 3);

    // Each instance accepts 15 submissions, one after the other; the instances at once.
    // Every submission interleaves the topics: left, right, left.
    const perInstance = 15;
    await Promise.all(
      servers.map(async (server) => {
        for (let i = 0; i < perInstance; i++) {
          const data = `${server.runtime}#${i}`;
          await submit(server, [
            { topic: "left", event: "l1", data },
            { topic: "right", event: "r", data },
            { topic: "left", event: "l2", data },
          ]);
        }
      }),
    );

    const total = servers.length * perInstance;
    // Compared without ids: those are each instance's own (its history's).
    const withoutIds = (events: ReceivedEvent[]) => events.map(({ event, data }) => ({ event, data }));
    const seenBoth = await Promise.all(both.map(async (stream) => withoutIds(await stream.next(total * 3, 10_000))));
    const seenLeft = await Promise.all(leftOnly.map(async (stream) => withoutIds(await stream.next(total * 2, 10_000))));
    // The same order on every instance…
    for (const seen of seenBoth) expect(seen).toEqual(seenBoth[0]!);
    for (const seen of seenLeft) expect(seen).toEqual(seenLeft[0]!);
    // …in which each submission arrives whole, in its own order, never interleaved…
    const submissions = chunks(seenBoth[0]!, 3);
    for (const [a, b, c] of submissions) {
      expect([a!.event, b!.event, c!.event]).toEqual(["l1", "r", "l2"]);
      expect(new Set([a!.data, b!.data, c!.data]).size).toBe(1);
    }
    // …and each instance's submissions in the order it accepted them.
    for (const server of servers) {
      const mine = submissions.map(([first]) => first!.data).filter((data) => data.startsWith(`${server.runtime}#`));
      expect(mine).toEqual(Array.from({ length: perInstance }, (_, i) => `${server.runtime}#${i}`));
    }
    expect(seenLeft[0]!.map((e) => e.data)).toEqual(seenBoth[0]!.filter((e) => e.event !== "r").map((e) => e.data));
  }, 30_000);

  test("an instance subscribes only to the topics its own streams need", async () => {
    const [bun, deno] = servers;
    const mine = await subscribe(bun!, ["only-on-bun"]);
    await subscribedBy("only-on-bun", 1);
    expect(redis.cli("PUBSUB", "CHANNELS", "sse:only-on-*")).toBe("sse:only-on-bun");
    await submit(deno!, [{ topic: "only-on-bun", event: "e", data: "from deno" }]);
    expect((await mine.next(1))[0]!.data).toBe("from deno");
    // The last stream of a topic gone (and its history's linger over), the instance unsubscribes.
    mine.close();
    await subscribedBy("only-on-bun", 0);
  });

  test("a topic re-opened while its unsubscribe is in flight ends up subscribed", async () => {
    const node = servers[2]!;
    for (let round = 0; round < 5; round++) {
      const first = await subscribe(node, ["flap"]);
      await subscribedBy("flap", 1);
      first.close();
      // Open again at once: the unsubscribe for `first` may be racing this subscribe.
      const second = await subscribe(node, ["flap"]);
      await subscribedBy("flap", 1);
      await Bun.sleep(50); // let any late unsubscribe land
      expect(numSub(redis, "sse:flap")).toBe(1);
      await submit(servers[0]!, [{ topic: "flap", event: "round", data: String(round) }]);
      expect((await second.next(1))[0]!.data).toBe(String(round));
      second.close();
      await subscribedBy("flap", 0);
    }
  }, 30_000);

  test("a submission to topics nobody follows is accepted", async () => {
    await submit(servers[1]!, [{ topic: "nobody", event: "e", data: "lost in space" }]);
  });

  test("a message on our channel that is not an event batch is ignored with a warning", async () => {
    const bun = servers[0]!;
    const stream = await subscribe(bun, ["foreign"]);
    await subscribedBy("foreign", 1);
    expect(redis.cli("PUBLISH", "sse:foreign", "not msgpack of events")).toBe("1");
    await waitForLog(bun, (entry) => entry.msg === "ignored a message that is not an event batch");
    await submit(bun, [{ topic: "foreign", event: "e", data: "still here" }]);
    expect((await stream.next(1))[0]!.data).toBe("still here");
  });

  test("an instance killed: the others keep serving each other", async () => {
    const [bun, deno, node] = servers as [RunningServer, RunningServer, RunningServer];
    const onBun = await subscribe(bun, ["survivors"]);
    const onDeno = await subscribe(deno, ["survivors"]);
    await subscribe(node, ["survivors"]);
    await subscribedBy("survivors", 3);
    await node.stop("SIGKILL");
    // Redis notices the dead connection and drops its subscriptions.
    await subscribedBy("survivors", 2);
    await submit(bun, [{ topic: "survivors", event: "e", data: "one" }]);
    await submit(deno, [{ topic: "survivors", event: "e", data: "two" }]);
    for (const stream of [onBun, onDeno]) expect((await stream.next(2)).map((e) => e.data)).toEqual(["one", "two"]);
    for (const server of [bun, deno]) expect(await readiness(server.url)).toBe(200);
  }, 20_000);
});

function chunks<T>(events: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < events.length; i += size) out.push(events.slice(i, i + size));
  return out;
}
