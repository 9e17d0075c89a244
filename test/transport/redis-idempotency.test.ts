/**
 * Idempotent submissions through one Redis: the id's key and the publish are one script,
 * so instances handed the same submission at once deliver it once between them, and the
 * key outlives a lost and re-made connection. Plain pub/sub and the shared history alike.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { suiteClient } from "../helpers/clients.ts";
import { numSub, readiness, startRedis, waitUntil, type RedisNode } from "../helpers/redis.ts";
import { postSubmit, startServer, type RunningServer } from "../helpers/server.ts";
import { mint, type TestEvent } from "../helpers/tokens.ts";

const ev = (topic: string, data: string): TestEvent => ({ topic, event: "e", data });
const TTL_SECONDS = 2;

async function submitPayload(server: RunningServer, payload: unknown): Promise<string> {
  const response = await postSubmit(server, mint(payload));
  return `${response.status} ${await response.text()}`;
}

const modes = [
  { name: "plain pub/sub", env: { SSE_HISTORY_SIZE: "0" } },
  { name: "shared history", env: { SSE_HISTORY_SIZE: "100" } },
] as const;

for (const mode of modes) {
  describe(`Redis, ${mode.name}: idempotent submissions across instances`, () => {
    let redis: RedisNode;
    let servers: RunningServer[] = [];
    const client = suiteClient();
    const subscribedBy = (topic: string, count: number) =>
      waitUntil(() => numSub(redis, `sse:${topic}`) === count, 5000, `${count} subscribers of ${topic}`);
    /** Streams on every instance for `topic`, subscribed in Redis. */
    const streamsOn = async (topic: string) => {
      const streams = await Promise.all(servers.map((server) => client.subscribe(server, [topic])));
      await subscribedBy(topic, servers.length);
      return streams;
    };
    /** What each stream got, up to a marker submitted without an id. */
    const receivedBy = async (streams: Awaited<ReturnType<typeof streamsOn>>, topic: string, count: number) => {
      await client.submit(servers[0]!, [ev(topic, "marker")]);
      return Promise.all(
        streams.map(async (stream) => {
          const events = (await stream.next(count + 1)).map((e) => e.data);
          expect(events.at(-1)).toBe("marker");
          return events.slice(0, -1);
        }),
      );
    };

    beforeAll(async () => {
      redis = await startRedis();
      const env = { REDIS_URL: redis.url, SSE_IDEMPOTENCY_TTL: String(TTL_SECONDS), ...mode.env };
      servers = await Promise.all((["bun", "node"] as const).map((runtime) => startServer(runtime, { env })));
    });
    afterAll(async () => {
      client.closeAll();
      for (const server of servers) await server.stop();
      await redis?.stop();
    });

    test("the same id submitted to both instances at once: delivered once, seen once on each", async () => {
      for (let round = 0; round < 5; round++) {
        const topic = `race-${round}`;
        const streams = await streamsOn(topic);
        const answers = await Promise.all(
          servers.map((server) => submitPayload(server, { id: `race-${round}`, events: [ev(topic, `from ${server.runtime}`)] })),
        );
        expect(answers).toEqual(["200 OK", "200 OK"]);
        const seen = await receivedBy(streams, topic, 1);
        expect(seen[0]).toHaveLength(1);
        expect(seen[1]).toEqual(seen[0]!); // the one winner, the same on every instance
      }
      expect(redis.cli("PTTL", "sse:id:race-0")).toMatch(/^\d+$/);
      expect(Number(redis.cli("PTTL", "sse:id:race-0"))).toBeLessThanOrEqual(TTL_SECONDS * 1000);
    });

    test("a different id is delivered; the same id after the TTL is delivered again", async () => {
      const streams = await streamsOn("again");
      expect(await submitPayload(servers[0]!, { id: "x", events: [ev("again", "x")] })).toBe("200 OK");
      expect(await submitPayload(servers[1]!, { id: "y", events: [ev("again", "y")] })).toBe("200 OK");
      expect(await submitPayload(servers[1]!, { id: "x", events: [ev("again", "x replayed")] })).toBe("200 OK");
      await Bun.sleep(TTL_SECONDS * 1000 + 300);
      expect(await submitPayload(servers[1]!, { id: "x", events: [ev("again", "x after the TTL")] })).toBe("200 OK");
      for (const seen of await receivedBy(streams, "again", 3)) expect(seen).toEqual(["x", "y", "x after the TTL"]);
    });

    test("an empty submission with an id takes the id", async () => {
      const streams = await streamsOn("empty");
      expect(await submitPayload(servers[0]!, { id: "empty-first", events: [] })).toBe("200 OK");
      expect(await submitPayload(servers[1]!, { id: "empty-first", events: [ev("empty", "late")] })).toBe("200 OK");
      expect(await submitPayload(servers[1]!, { events: [ev("empty", "plain")] })).toBe("200 OK");
      const seen = await Promise.all(streams.map((stream) => stream.next(1)));
      for (const [event] of seen) expect(event!.data).toBe("plain");
      for (const seenBy of await receivedBy(streams, "empty", 0)) expect(seenBy).toEqual([]);
    });

    test("the same id across a lost and re-made Redis connection: delivered once", async () => {
      const before = await streamsOn("reconnect");
      expect(await submitPayload(servers[0]!, { id: "across", events: [ev("reconnect", "first")] })).toBe("200 OK");
      for (const stream of before) expect((await stream.next(1)).map((e) => e.data)).toEqual(["first"]);
      // Redis drops every client connection (it keeps its keys): each instance loses its broker.
      redis.cli("CLIENT", "KILL", "TYPE", "normal");
      redis.cli("CLIENT", "KILL", "TYPE", "pubsub");
      for (const stream of before) expect(await stream.ended).toBe(true);
      await waitUntil(
        async () => (await Promise.all(servers.map((server) => readiness(server.url)))).every((status) => status === 200),
        10_000,
        "every instance ready again",
      );
      const after = await streamsOn("reconnect");
      for (const server of servers) {
        expect(await submitPayload(server, { id: "across", events: [ev("reconnect", "retry")] })).toBe("200 OK");
      }
      for (const seen of await receivedBy(after, "reconnect", 0)) expect(seen).toEqual([]);
    }, 30_000);
  });
}
