/** A submission carrying an id is delivered once, however often it is retried within the TTL. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { suiteClient } from "../helpers/clients.ts";
import { expectHealthy, postSubmit, SERVERS, startServer, type RunningServer } from "../helpers/server.ts";
import { mint, type TestEvent } from "../helpers/tokens.ts";

const TTL_SECONDS = 2;
const ev = (topic: string, data: string): TestEvent => ({ topic, event: "e", data });

/** "<status> <body>" of a submission of `payload` (any msgpack value), sealed as a backend would. */
async function submitPayload(server: RunningServer, payload: unknown): Promise<string> {
  const response = await postSubmit(server, mint(payload));
  return `${response.status} ${await response.text()}`;
}

async function replayedCount(server: RunningServer): Promise<number> {
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/^sse_submissions_replayed_total (\d+)$/m.exec(metrics)?.[1]);
}

for (const runtime of SERVERS) {
  describe(`${runtime}: idempotent submissions`, () => {
    let server: RunningServer;
    const client = suiteClient();
    /** Data of every event the stream got, after a marker submitted without an id shows all came. */
    const received = async (stream: Awaited<ReturnType<typeof client.subscribe>>, topic: string, count: number) => {
      await client.submit(server, [ev(topic, "marker")]);
      const events = (await stream.next(count + 1)).map((e) => e.data);
      expect(events.at(-1)).toBe("marker");
      return events.slice(0, -1);
    };

    beforeAll(async () => {
      server = await startServer(runtime, { env: { SSE_IDEMPOTENCY_TTL: String(TTL_SECONDS) } });
    });
    afterAll(async () => {
      client.closeAll();
      await expectHealthy(server);
      await server.stop();
    });

    test("the same id twice: both answered 200 OK, delivered once, the replay counted", async () => {
      const stream = await client.subscribe(server, ["twice"]);
      const before = await replayedCount(server);
      expect(await submitPayload(server, { id: "order-42-shipped", events: [ev("twice", "first")] })).toBe("200 OK");
      expect(await submitPayload(server, { id: "order-42-shipped", events: [ev("twice", "retry")] })).toBe("200 OK");
      expect(await received(stream, "twice", 1)).toEqual(["first"]);
      expect(await replayedCount(server)).toBe(before + 1);
    });

    test("map and positional (rmp_serde) forms name the same id", async () => {
      const stream = await client.subscribe(server, ["forms"]);
      expect(await submitPayload(server, [[["forms", "e", "positional"]], "forms-id"])).toBe("200 OK");
      expect(await submitPayload(server, { events: [ev("forms", "map")], id: "forms-id" })).toBe("200 OK");
      expect(await received(stream, "forms", 1)).toEqual(["positional"]);
    });

    test("a different id, or none, is delivered", async () => {
      const stream = await client.subscribe(server, ["other"]);
      expect(await submitPayload(server, { id: "a", events: [ev("other", "a")] })).toBe("200 OK");
      expect(await submitPayload(server, { id: "b", events: [ev("other", "b")] })).toBe("200 OK");
      expect(await submitPayload(server, [[["other", "e", "none"]]])).toBe("200 OK");
      expect(await submitPayload(server, [[["other", "e", "none"]], null])).toBe("200 OK");
      expect(await received(stream, "other", 4)).toEqual(["a", "b", "none", "none"]);
    });

    test("after the TTL the same id is delivered again", async () => {
      const stream = await client.subscribe(server, ["ttl"]);
      expect(await submitPayload(server, { id: "ttl-id", events: [ev("ttl", "first")] })).toBe("200 OK");
      await Bun.sleep(TTL_SECONDS * 1000 + 300);
      expect(await submitPayload(server, { id: "ttl-id", events: [ev("ttl", "after the TTL")] })).toBe("200 OK");
      expect(await received(stream, "ttl", 2)).toEqual(["first", "after the TTL"]);
    });

    test("a bad id is a 400 naming it, and nothing is delivered", async () => {
      const stream = await client.subscribe(server, ["bad"]);
      expect(await submitPayload(server, { id: "x".repeat(201), events: [ev("bad", "long")] })).toBe(
        "400 invalid payload: id: must be 1 to 200 bytes of UTF-8",
      );
      expect(await submitPayload(server, [[["bad", "e", "number"]], 7])).toBe("400 invalid payload: id: expected a string");
      expect(await submitPayload(server, { id: "", events: [ev("bad", "empty")] })).toBe(
        "400 invalid payload: id: must be 1 to 200 bytes of UTF-8",
      );
      expect(await received(stream, "bad", 0)).toEqual([]);
    });
  });
}
