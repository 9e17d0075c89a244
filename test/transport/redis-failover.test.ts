/**
 * Redis going away and coming back under running instances (one per runtime): not ready,
 * 503 on submit, streams closed, liveness kept; then recovery with no restart.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { numSub, readiness, startRedis, waitUntil, type RedisNode } from "../helpers/redis.ts";
import { eventsUrl, RUNTIMES, startServer, waitForLog, type RunningServer } from "../helpers/server.ts";
import { suiteClient } from "../helpers/clients.ts";
import { subscribeToken } from "../helpers/tokens.ts";

describe("Redis lost and back", () => {
  let redis: RedisNode;
  let servers: RunningServer[] = [];
  const client = suiteClient();
  const { subscribe, submitStatus } = client;
  const subscribedBy = (topic: string, count: number) =>
    waitUntil(() => numSub(redis, `sse:${topic}`) === count, 5000, `${count} subscribers of ${topic}`);
  const allReady = async (status: number) =>
    (await Promise.all(servers.map((server) => readiness(server.url)))).every((s) => s === status);
  const live = async (server: RunningServer) => (await fetch(`${server.url}/health/live`)).status;

  beforeAll(async () => {
    redis = await startRedis();
    servers = await Promise.all(RUNTIMES.map((runtime) => startServer(runtime, { env: { REDIS_URL: redis.url } })));
  });
  afterAll(async () => {
    client.closeAll();
    for (const server of servers) await server.stop();
    await redis?.stop();
  });

  test("killed mid-stream: streams end, submit 503, not ready, still live; restarted: recovers", async () => {
    const streams = await Promise.all(servers.map((server) => subscribe(server, ["news"])));
    await subscribedBy("news", 3);
    expect(await submitStatus(servers[0]!, [{ topic: "news", event: "e", data: "before" }])).toBe("200 OK");
    for (const stream of streams) expect((await stream.next(1))[0]!.data).toBe("before");

    await redis.kill();
    // Every stream is closed by the server (not errored): clients reconnect and resync.
    for (const stream of streams) expect(await withTimeout(stream.ended, 5000)).toBe(true);
    for (const server of servers) {
      expect(await readiness(server.url)).toBe(503);
      expect(await live(server)).toBe(200);
      expect(await submitStatus(server, [{ topic: "news", event: "e", data: "during" }])).toBe(
        "503 event broker (Redis) is unavailable; retry later",
      );
      await waitForLog(server, (entry) => entry.level === "warn" && entry.msg === "redis connection lost; closing streams and reconnecting");
    }
    // A client reconnecting during the outage is told to come back (it could miss events).
    const duringOutage = await fetch(eventsUrl(servers[1]!, subscribeToken(["news"])));
    expect(duringOutage.status).toBe(503);
    expect(duringOutage.headers.get("retry-after")).toBe("2");
    await duringOutage.text();

    await redis.restart();
    await waitUntil(() => allReady(200), 10_000, "every instance ready again");

    const after = await Promise.all(servers.map((server) => subscribe(server, ["news"])));
    await subscribedBy("news", 3);
    for (const server of servers) {
      expect(await submitStatus(server, [{ topic: "news", event: "e", data: `after from ${server.runtime}` }])).toBe("200 OK");
    }
    const expected = servers.map((server) => `after from ${server.runtime}`);
    // Nothing refused during the outage shows up later.
    for (const stream of after) expect((await stream.next(3)).map((e) => e.data)).toEqual(expected);
    await Bun.sleep(100);
    for (const stream of after) expect(stream.pending).toEqual([]);
  }, 40_000);

  test("an instance started while Redis is down serves liveness, and becomes ready when Redis comes", async () => {
    await redis.kill();
    await waitUntil(() => allReady(503), 5000, "every instance not ready");
    const late = await startServer("node", { env: { REDIS_URL: redis.url } });
    servers.push(late);
    expect(await readiness(late.url)).toBe(503);
    expect(await live(late)).toBe(200);
    expect((await submitStatus(late, [{ topic: "late", event: "e", data: "x" }])).slice(0, 3)).toBe("503");

    await redis.restart();
    await waitUntil(() => allReady(200), 10_000, "every instance ready");
    const onBun = await subscribe(servers[0]!, ["late"]);
    await subscribedBy("late", 1);
    expect(await submitStatus(late, [{ topic: "late", event: "e", data: "from the late one" }])).toBe("200 OK");
    expect((await onBun.next(1))[0]!.data).toBe("from the late one");
  }, 40_000);
});

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms)),
  ]);
}
