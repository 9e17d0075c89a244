/**
 * Who is listening, on one instance under each runtime: `POST presence` counts the open
 * streams of each topic exactly, refuses bad tokens (401) and bad payloads (400), is
 * counted in the metrics; with SSE_PRESENCE_EVENTS, count changes arrive as events.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import { waitUntil } from "../helpers/redis.ts";
import {
  eventsUrl,
  expectHealthy,
  metric,
  postPresence,
  postSubmit,
  presenceOf,
  SERVERS,
  startServer,
  type RunningServer,
} from "../helpers/server.ts";
import { suiteClient } from "../helpers/clients.ts";
import { presenceEvents } from "../helpers/presence.ts";
import { mint, OTHER_SECRET_HEX, presenceToken, seal, submitToken, subscribeToken } from "../helpers/tokens.ts";

const MAX_BODY = 4096;

const now = () => Math.floor(Date.now() / 1000);
const statusOf = async (response: Promise<Response>) => {
  const res = await response;
  return `${res.status} ${(await res.text()).trim()}`;
};

for (const runtime of SERVERS) {
  describe(`${runtime}: presence`, () => {
    let server: RunningServer;
    const client = suiteClient();
    const count = async (topics: readonly string[]) => (await presenceOf(server, presenceToken(topics))).topics;

    beforeAll(async () => {
      server = await startServer(runtime, {
        env: { SSE_MAX_BODY_BYTES: String(MAX_BODY), SSE_MAX_TOPICS: "3", SSE_PRESENCE_EVENTS: "true" },
      });
    });
    afterAll(async () => {
      client.closeAll();
      await expectHealthy(server);
      await server.stop();
    });

    test("counts each topic's open streams: 0 → 2 → 1 → 0, exact right after a stream opens", async () => {
      expect(await presenceOf(server, presenceToken(["room-a", "room-b"]))).toEqual({ topics: { "room-a": 0, "room-b": 0 }, instances: 1 });
      const first = await client.subscribe(server, ["room-a"]);
      const second = await client.subscribe(server, ["room-a", "room-b"]);
      expect(await count(["room-a", "room-b"])).toEqual({ "room-a": 2, "room-b": 1 });
      // rmp_serde's positional form, with a duplicate topic (counted once).
      expect(await presenceOf(server, mint([["room-b", "room-a", "room-b"]]))).toEqual({ topics: { "room-b": 1, "room-a": 2 }, instances: 1 });
      first.close();
      // The server learns of a client's leaving when its socket closes: asked until then.
      await waitUntil(async () => (await count(["room-a"]))["room-a"] === 1, 5000, "one stream of room-a");
      expect(await count(["room-a", "room-b"])).toEqual({ "room-a": 1, "room-b": 1 });
      second.close();
      await waitUntil(async () => (await count(["room-a", "room-b"]))["room-a"] === 0, 5000, "no stream of room-a");
      expect(await count(["room-a", "room-b"])).toEqual({ "room-a": 0, "room-b": 0 });
    });

    test("token problems: 401; an authentic token that is no presence query: 400; oversized: 413", async () => {
      const cases: [string, BodyInit, string][] = [
        ["no token", "", "401 invalid token: token is missing"],
        ["garbage", "x".repeat(200), "401 invalid token"],
        ["another key", presenceToken(["t"], { secretHex: OTHER_SECRET_HEX }), "401 invalid token"],
        ["expired", presenceToken(["t"], { timestamp: now() - 86400 - 120 }), "401 invalid token: token has expired"],
        ["a subscribe token", subscribeToken(["t"]), "400 invalid payload: presence"],
        ["a submit token", submitToken([{ topic: "t", event: "", data: "" }]), "400 invalid payload: presence"],
        ["no topics", presenceToken([]), "400 invalid payload: presence: must name at least one topic"],
        ["too many topics", presenceToken(["1", "2", "3", "4"]), "400 too many topics: 4 > 3"],
        ["a topic that is not a string", mint({ presence: [7] }), "400 invalid payload: presence.0: expected a string"],
        ["a topic with a line break", presenceToken(["a\nb"]), "400 invalid payload: presence.0: must not contain CR or LF"],
        ["not msgpack", seal(new TextEncoder().encode('{"presence":["t"]}')), "400"],
        ["oversized", "x".repeat(MAX_BODY + 1), "413"],
      ];
      for (const [what, body, answer] of cases) {
        const got = await statusOf(postPresence(server, body));
        expect({ what, answer: got.slice(0, answer.length) }).toEqual({ what, answer });
      }
      // And the other way round: a presence query is neither a submission nor a subscription.
      expect(await statusOf(postSubmit(server, presenceToken(["t"])))).toStartWith("400 invalid payload: events");
      expect(await statusOf(fetch(eventsUrl(server, presenceToken(["t"]))))).toStartWith("400 invalid payload: topics");
      const wrongMethod = await fetch(`${server.url}/presence`);
      expect([wrongMethod.status, wrongMethod.headers.get("allow"), await wrongMethod.text()]).toEqual([
        405,
        "POST, OPTIONS",
        "method not allowed; allowed: POST, OPTIONS",
      ]);
    });

    test("sse_presence_queries_total counts answered queries, not refused ones", async () => {
      const before = await metric(server, "sse_presence_queries_total");
      await count(["m"]);
      await count(["m", "n"]);
      expect((await postPresence(server, presenceToken([]))).status).toBe(400);
      expect((await postPresence(server, "x")).status).toBe(401);
      expect(await metric(server, "sse_presence_queries_total")).toBe(before + 2);
    });

    test("SSE_PRESENCE_EVENTS: streams opened within a second make one event with the final count", async () => {
      const watcher = await client.subscribe(server, ["sse-server:presence"]);
      const streams = await Promise.all([1, 2, 3].map(() => client.subscribe(server, ["lobby"])));
      expect(await presenceEvents(watcher, "lobby", 1)).toEqual([{ event: "presence", topic: "lobby", count: 3 }]);
      await Bun.sleep(1500); // a second window, had the opens been split over two
      // Nothing more of lobby, and nothing of the watcher's own stream.
      expect(watcher.pending.map((e) => JSON.parse(e.data).topic).filter((t) => t === "lobby" || t === "sse-server:presence")).toEqual([]);
      for (const stream of streams) stream.close();
      // Closes reach the server one by one: the last event says none are left.
      while ((await presenceEvents(watcher, "lobby", 1))[0]!.count !== 0);
    });
  });
}
