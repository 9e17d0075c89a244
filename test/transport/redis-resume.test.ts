/**
 * Resumable streams when clustered: an instance resumes only what it is sure it received,
 * and says `reset` for everything else — never a silent gap.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eventsUrl, postSubmit, startServer, type RunningServer } from "../helpers/server.ts";
import { numSub, readiness, startRedis, waitUntil, type RedisNode } from "../helpers/redis.ts";
import { openStream, type EventStream } from "../helpers/sse.ts";
import { submitToken, subscribeToken } from "../helpers/tokens.ts";

describe("resume with REDIS_URL", () => {
  let redis: RedisNode;
  let a: RunningServer;
  let b: RunningServer;
  const open: EventStream[] = [];
  const subscribe = async (server: RunningServer, topics: string[], lastId?: string) => {
    const headers: Record<string, string> = lastId ? { "Last-Event-ID": lastId } : {};
    const stream = await openStream(eventsUrl(server, subscribeToken(topics)), { headers });
    open.push(stream);
    return stream;
  };
  const submit = async (server: RunningServer, topic: string, ...data: string[]) => {
    const res = await postSubmit(server, submitToken(data.map((d) => ({ topic, event: "n", data: d }))));
    expect(`${res.status} ${await res.text()}`).toBe("200 OK");
  };
  /** Opens a stream on `server`, takes one event, and leaves with its id. */
  async function seeOneAndLeave(server: RunningServer, topic: string): Promise<string> {
    const stream = await subscribe(server, [topic]);
    await waitUntil(() => numSub(redis, `sse:${topic}`) >= 1, 5000, "subscribed");
    await submit(server, topic, "seen");
    const [seen] = await stream.next(1);
    stream.close();
    return seen!.id!;
  }

  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all(
      (["bun", "node"] as const).map((runtime) => startServer(runtime, { env: { REDIS_URL: redis.url } })),
    );
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test("same instance: what other instances published meanwhile is replayed", async () => {
    const lastId = await seeOneAndLeave(a, "same");
    await submit(b, "same", "1", "2"); // while the client is away, through the other instance
    const resumed = await subscribe(a, ["same"], lastId);
    expect((await resumed.next(2)).map((e) => e.data)).toEqual(["1", "2"]);
  });

  test("another instance: reset (ids are per instance), then live", async () => {
    const lastId = await seeOneAndLeave(a, "moved");
    const elsewhere = await subscribe(b, ["moved"], lastId);
    expect((await elsewhere.next(1))[0]).toMatchObject({ event: "reset", data: "unknown-id" });
    await waitUntil(() => numSub(redis, "sse:moved") === 2, 5000, "both subscribed");
    await submit(a, "moved", "live");
    expect((await elsewhere.next(1))[0]!.data).toBe("live");
  });

  test("a topic this instance never received cannot be resumed: reset", async () => {
    const stream = await subscribe(a, ["other-topic"]);
    await waitUntil(() => stream.lastEventId() !== undefined, 3000, "opening id");
    const openedAt = stream.lastEventId()!;
    stream.close();
    // A token for a topic that `a` has not been receiving.
    const fresh = await subscribe(a, ["never-here"], openedAt);
    expect((await fresh.next(1))[0]).toMatchObject({ event: "reset", data: "evicted" });
  });

  test("after a Redis outage: streams and submits refused meanwhile, then resume is a reset", async () => {
    const lastId = await seeOneAndLeave(a, "outage");
    await redis.kill();
    await waitUntil(async () => (await readiness(a.url)) === 503, 10_000, "not ready");
    const refused = await fetch(eventsUrl(a, subscribeToken(["outage"])));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("2");
    await refused.text();
    await redis.restart();
    await waitUntil(async () => (await readiness(a.url)) === 200, 15_000, "ready again");
    await waitUntil(async () => (await readiness(b.url)) === 200, 15_000, "b ready again");
    const resumed = await subscribe(a, ["outage"], lastId);
    expect((await resumed.next(1))[0]).toMatchObject({ event: "reset", data: "evicted" });
  }, 40_000);
});
