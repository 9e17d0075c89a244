/**
 * Resumable streams through one Redis node: the history lives in Redis, so a client
 * resumes on any instance (one per runtime here), and is told `reset` whenever the history
 * cannot cover its gap — never a silent one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseId } from "../../src/position.ts";
import { numSub, readiness, startRedis, waitUntil, type RedisNode } from "../helpers/redis.ts";
import { expectHealthy, RUNTIMES, startServer, type RunningServer } from "../helpers/server.ts";
import { suiteClient } from "../helpers/clients.ts";
import type { ReceivedEvent } from "../helpers/sse.ts";
import { type TestEvent } from "../helpers/tokens.ts";

const HISTORY_SIZE = 20;
const HISTORY_TTL_SECONDS = 3;

const datas = (events: readonly ReceivedEvent[]) => events.map((e) => e.data);
const positionOf = (event: ReceivedEvent) => parseId(event.id!)!.position;

/** Every event carries an id, and the ids go strictly up: no duplicate, one order. */
function expectIncreasingIds(events: readonly ReceivedEvent[]): void {
  const positions = events.map(positionOf);
  for (let i = 1; i < positions.length; i++) expect(positions[i]!).toBeGreaterThan(positions[i - 1]!);
}

describe("resume with REDIS_URL (history shared in Redis)", () => {
  let redis: RedisNode;
  let servers: RunningServer[] = [];
  const client = suiteClient();
  const at = (i: number) => servers[i % servers.length]!;

  const subscribe = async (server: RunningServer, topics: string[], lastId?: string) => {
    const stream = await client.subscribe(server, topics, lastId);
    expect(stream.response.status).toBe(200);
    return stream;
  };
  const { submit, submitStatus } = client;
  const one = (topic: string, data: string): TestEvent => ({ topic, event: "n", data });
  /** Opens a stream, takes one event submitted through `server`, and leaves with its id. */
  async function seeOneAndLeave(server: RunningServer, topics: string[]): Promise<string> {
    const stream = await subscribe(server, topics);
    await submit(server, [one(topics[0]!, "seen")]);
    const [seen] = await stream.next(1);
    expect(seen!.data).toBe("seen");
    stream.close();
    return seen!.id!;
  }

  beforeAll(async () => {
    redis = await startRedis();
    servers = await Promise.all(
      RUNTIMES.map((runtime) =>
        startServer(runtime, {
          env: {
            REDIS_URL: redis.url,
            SSE_HISTORY_SIZE: String(HISTORY_SIZE),
            SSE_HISTORY_TTL: String(HISTORY_TTL_SECONDS),
          },
        }),
      ),
    );
  });
  afterAll(async () => {
    client.closeAll();
    for (const server of servers) await server.stop();
    await redis?.stop();
  });

  test("reconnect to another instance: exactly the missed events of every topic, in order", async () => {
    const topics = ["multi-a", "multi-b", "multi-c"];
    const lastId = await seeOneAndLeave(at(0), topics);
    // While the client is away, submissions through every instance, one spanning two topics.
    await submit(at(1), [one("multi-b", "b1")]);
    await submit(at(2), [one("multi-x", "not mine")]);
    await submit(at(0), [one("multi-c", "c1")]);
    await submit(at(1), [one("multi-a", "a2"), one("multi-x", "not mine"), one("multi-b", "b2")]);
    const missed = ["b1", "c1", "a2", "b2"];
    for (const [i, server] of servers.entries()) {
      const resumed = await subscribe(server, topics, lastId);
      const replayed = await resumed.next(missed.length);
      expect({ on: server.runtime, got: datas(replayed) }).toEqual({ on: server.runtime, got: missed });
      expectIncreasingIds(replayed);
      // …then live, from any instance (and missed by the next resume from the same id).
      await submit(at(i + 1), [one("multi-c", `live ${i}`)]);
      expect(datas(await resumed.next(1))).toEqual([`live ${i}`]);
      missed.push(`live ${i}`);
      resumed.close();
    }
  });

  test("a stream that saw no event resumes on another instance from where it opened", async () => {
    const quiet = await subscribe(at(0), ["quiet"]);
    await waitUntil(() => quiet.lastEventId() !== undefined, 3000, "opening id");
    const openedAt = quiet.lastEventId()!;
    quiet.close();
    await submit(at(2), [one("quiet", "while away")]);
    const resumed = await subscribe(at(1), ["quiet"], openedAt);
    expect(datas(await resumed.next(1))).toEqual(["while away"]);
  });

  test("replay racing live submits across instances: no gap, no duplicate", async () => {
    const topics = ["race-a", "race-b"];
    const lastId = await seeOneAndLeave(at(0), topics);
    const missed = Array.from({ length: 10 }, (_, i) => `missed ${i}`);
    for (const [i, data] of missed.entries()) await submit(at(i), [one(topics[i % 2]!, data)]);
    // Two writers on two instances keep submitting while clients resume on every instance.
    const perWriter = 40;
    const writers = [1, 2].map(async (w) => {
      for (let i = 0; i < perWriter; i++) await submit(at(w), [one(topics[i % 2]!, `w${w}#${i}`)]);
    });
    const resumed = await Promise.all(servers.map((server) => subscribe(server, topics, lastId)));
    await Promise.all(writers);
    const total = missed.length + 2 * perWriter;
    const received: string[][] = [];
    for (const stream of resumed) {
      const got = await stream.next(total, 10_000);
      received.push(datas(got));
      expectIncreasingIds(got);
      const seen = datas(got);
      expect(seen.slice(0, missed.length)).toEqual(missed);
      expect(new Set(seen).size).toBe(total);
      for (const w of [1, 2]) {
        expect(seen.filter((d) => d.startsWith(`w${w}#`))).toEqual(Array.from({ length: perWriter }, (_, i) => `w${w}#${i}`));
      }
      await Bun.sleep(50);
      expect(stream.pending).toEqual([]);
    }
    // Every instance replayed and delivered the same events in the same order.
    for (const seen of received) expect(seen).toEqual(received[0]!);
    for (const stream of resumed) stream.close();
  }, 30_000);

  const resets: [string, (topic: string, lastId: string) => Promise<string>, string][] = [
    ["a garbage id", async () => "garbage!", "unknown-id"],
    ["an id of another epoch", async (_, id) => `zzzzzzz-${id.split("-")[1]}`, "unknown-id"],
    ["an id from the future", async (_, id) => `${id.split("-")[0]}-${(parseId(id)!.position + 1e9).toString(36)}`, "unknown-id"],
    [
      "an id whose followers were trimmed by the count bound",
      async (topic, id) => {
        for (let i = 0; i < HISTORY_SIZE + 1; i++) await submit(at(i), [one(topic, `push ${i}`)]);
        return id;
      },
      "evicted",
    ],
    [
      "an id older than the TTL",
      async (_, id) => {
        await Bun.sleep(HISTORY_TTL_SECONDS * 1000 + 200);
        return id;
      },
      "evicted",
    ],
  ];
  for (const [what, makeId, reason] of resets) {
    test(`${what}: reset (${reason}) first, then a healthy live stream`, async () => {
      const topic = `reset-${what.replaceAll(" ", "-")}`;
      const lastId = await makeId(topic, await seeOneAndLeave(at(0), [topic]));
      const resumed = await subscribe(at(1), [topic], lastId);
      const [signal] = await resumed.next(1);
      expect(signal).toMatchObject({ event: "reset", data: reason });
      expect(parseId(signal!.id!)).toBeDefined();
      await submit(at(2), [one(topic, "live")]);
      expect(datas(await resumed.next(1))).toEqual(["live"]);
      // The reset's id is a valid position: resuming from it (anywhere) replays only what came after.
      resumed.close();
      const again = await subscribe(at(2), [topic], signal!.id!);
      expect(datas(await again.next(1))).toEqual(["live"]);
    }, 15_000);
  }

  test("a topic with nothing new resumes with nothing replayed, then live", async () => {
    const lastId = await seeOneAndLeave(at(0), ["idle"]);
    const resumed = await subscribe(at(2), ["idle"], lastId);
    await submit(at(1), [one("idle", "next")]);
    const [next] = await resumed.next(1);
    expect(next!.data).toBe("next");
    expect(positionOf(next!)).toBeGreaterThan(parseId(lastId)!.position);
  });

  test("submit refused by Redis (out of memory): 503, nothing stored, nothing published", async () => {
    const listening = await subscribe(at(2), ["oom"]);
    await waitUntil(() => numSub(redis, "sse:oom") >= 1, 5000, "subscribed");
    const lastId = await seeOneAndLeave(at(0), ["oom"]);
    await listening.next(1); // "seen"
    redis.cli("CONFIG", "SET", "maxmemory", "1");
    try {
      expect(await submitStatus(at(1), [one("oom", "refused"), one("oom-other", "refused too")])).toBe(
        "503 event broker (Redis) did not take the events; retry later",
      );
    } finally {
      redis.cli("CONFIG", "SET", "maxmemory", "0");
    }
    expect(redis.cli("XLEN", "sse:h:oom")).toBe("1");
    expect(redis.cli("EXISTS", "sse:h:oom-other")).toBe("0");
    await submit(at(1), [one("oom", "accepted")]);
    expect(datas(await listening.next(1))).toEqual(["accepted"]);
    const resumed = await subscribe(at(1), ["oom"], lastId);
    expect(datas(await resumed.next(1))).toEqual(["accepted"]);
    for (const server of servers) expect(await readiness(server.url)).toBe(200);
  });

  test("Redis restarted (no persistence): a new epoch, so older ids get reset unknown-id, then live", async () => {
    const lastId = await seeOneAndLeave(at(0), ["restart"]);
    await redis.kill();
    await waitUntil(async () => (await readiness(at(1).url)) === 503, 10_000, "not ready");
    await redis.restart();
    for (const server of servers) await waitUntil(async () => (await readiness(server.url)) === 200, 15_000, "ready again");
    const resumed = await subscribe(at(1), ["restart"], lastId);
    const [signal] = await resumed.next(1);
    expect(signal).toMatchObject({ event: "reset", data: "unknown-id" });
    expect(signal!.id!.split("-")[0]).not.toBe(lastId.split("-")[0]);
    await submit(at(2), [one("restart", "after")]);
    expect(datas(await resumed.next(1))).toEqual(["after"]);
    for (const server of servers) await expectHealthy(server);
  }, 40_000);
});
