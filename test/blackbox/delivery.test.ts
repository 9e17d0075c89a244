/** What subscribers receive, byte-compatible with backends of the original server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eventsUrl, expectHealthy, postSubmit, SERVERS, startServer, waitForLog, type RunningServer } from "../helpers/server.ts";
import { openStream, type EventStream } from "../helpers/sse.ts";
import {
  encodeOldStyle,
  mint,
  seal,
  submitToken,
  submitTokenArrayForm,
  submitTokenBinValues,
  subscribeToken,
  type TestEvent,
} from "../helpers/tokens.ts";

for (const runtime of SERVERS) {
  describe(`${runtime}: delivery`, () => {
    let server: RunningServer;
    const open: EventStream[] = [];
    const subscribe = async (topics: string[], token = subscribeToken(topics)) => {
      const stream = await openStream(eventsUrl(server, token));
      open.push(stream);
      return stream;
    };
    const submit = async (events: TestEvent[], token = submitToken(events)) => {
      const res = await postSubmit(server, token);
      expect(res.status).toBe(200);
      await res.text();
    };

    beforeAll(async () => {
      server = await startServer(runtime, { env: { LOG_LEVEL: "debug" } });
    });
    afterAll(async () => {
      for (const s of open) s.close();
      await expectHealthy(server);
      await server.stop();
    });

    test("the stream opens at once with the SSE headers and a first comment", async () => {
      const stream = await subscribe(["t"]);
      expect(stream.response.status).toBe(200);
      expect(stream.response.headers.get("content-type")).toBe("text/event-stream");
      expect(stream.response.headers.get("cache-control")).toBe("no-cache");
      expect(stream.response.headers.get("x-accel-buffering")).toBe("no");
      expect(stream.response.headers.get("access-control-allow-origin")).toBe("*");
      const deadline = Date.now() + 3000;
      while (stream.comments.length === 0 && Date.now() < deadline) await Bun.sleep(10);
      expect(stream.comments.length).toBeGreaterThan(0);
    });

    test("named event, empty data, multi-line and unicode data", async () => {
      const stream = await subscribe(["shapes"]);
      await submit([
        { topic: "shapes", event: "update", data: "hello" },
        { topic: "shapes", event: "", data: "" },
        { topic: "shapes", event: "multi", data: "a\nb\r\nc\rd" },
        { topic: "shapes", event: "uni", data: "héllo ✓ 😀 日本" },
        { topic: "shapes", event: "spaces", data: "  leading: colon" },
      ]);
      expect((await stream.next(5)).map(({ event, data }) => ({ event, data }))).toEqual([
        { event: "update", data: "hello" },
        { event: "message", data: "" },
        { event: "multi", data: "a\nb\nc\nd" },
        { event: "uni", data: "héllo ✓ 😀 日本" },
        { event: "spaces", data: "  leading: colon" },
      ]);
    });

    test("payload forms of Python and Rust backends: map, rmp_serde arrays, bin, old raw", async () => {
      const stream = await subscribe(["forms"]);
      const mk = (data: string): TestEvent[] => [{ topic: "forms", event: "f", data }];
      await submit(mk("map"));
      await submit(mk("array"), submitTokenArrayForm(mk("array")));
      await submit(mk("bin"), submitTokenBinValues(mk("bin")));
      const long = "raw".repeat(20);
      await submit(mk(long), seal(encodeOldStyle({ events: mk(long) })));
      await submit(mk("extra keys"), mint({ events: [{ ...mk("extra keys")[0], id: 1 }], v: 2 }));
      expect((await stream.next(5)).map((e) => e.data)).toEqual(["map", "array", "bin", long, "extra keys"]);
    });

    test("subscribe tokens in rmp_serde array form and with bin topics", async () => {
      const arrayForm = await subscribe([], mint([["arr-topic"]]));
      const binForm = await subscribe([], mint({ topics: [new TextEncoder().encode("bin-topic")] }));
      await submit([
        { topic: "arr-topic", event: "", data: "a" },
        { topic: "bin-topic", event: "", data: "b" },
      ]);
      expect((await arrayForm.next(1))[0]!.data).toBe("a");
      expect((await binForm.next(1))[0]!.data).toBe("b");
    });

    test("order is kept across many submissions; topics are isolated", async () => {
      const a = await subscribe(["order-a"]);
      const both = await subscribe(["order-a", "order-b"]);
      const b = await subscribe(["order-b"]);
      const expectedA: string[] = [];
      const expectedBoth: string[] = [];
      for (let batch = 0; batch < 20; batch++) {
        const events: TestEvent[] = [];
        for (let i = 0; i < 10; i++) {
          const topic = i % 3 === 0 ? "order-b" : "order-a";
          const data = `${batch}-${i}`;
          events.push({ topic, event: "n", data });
          if (topic === "order-a") expectedA.push(data);
          expectedBoth.push(data);
        }
        await submit(events);
      }
      expect((await a.next(expectedA.length)).map((e) => e.data)).toEqual(expectedA);
      expect((await both.next(expectedBoth.length)).map((e) => e.data)).toEqual(expectedBoth);
      const expectedB = expectedBoth.filter((d) => !expectedA.includes(d));
      expect((await b.next(expectedB.length)).map((e) => e.data)).toEqual(expectedB);
    });

    test("concurrent submissions each arrive whole and in their own order", async () => {
      const stream = await subscribe(["concurrent"]);
      const batches = Array.from({ length: 10 }, (_, b) =>
        Array.from({ length: 5 }, (_, i) => ({ topic: "concurrent", event: "", data: `${b}:${i}` })),
      );
      await Promise.all(batches.map((events) => submit(events)));
      const got = (await stream.next(50)).map((e) => e.data);
      // Batches may land in any order, but never interleave.
      for (let i = 0; i < 50; i += 5) {
        const batch = got[i]!.split(":")[0];
        expect(got.slice(i, i + 5)).toEqual([0, 1, 2, 3, 4].map((n) => `${batch}:${n}`));
      }
    });

    test("a topic named twice in a token delivers once", async () => {
      const stream = await subscribe(["dup", "dup", "dup"]);
      await submit([{ topic: "dup", event: "", data: "1" }, { topic: "dup", event: "", data: "2" }]);
      expect((await stream.next(2)).map((e) => e.data)).toEqual(["1", "2"]);
      await Bun.sleep(100);
      expect(stream.pending).toEqual([]);
    });

    test("a topic without subscribers is a success", async () => {
      await submit([{ topic: "nobody-listens", event: "e", data: "x" }]);
    });

    test("submit takes any content type and ignores surrounding whitespace", async () => {
      const stream = await subscribe(["ws"]);
      const token = submitToken([{ topic: "ws", event: "", data: "spaced" }]);
      const res = await postSubmit(server, `\n  ${token} \r\n`, {
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(res.status).toBe(200);
      expect((await stream.next(1))[0]!.data).toBe("spaced");
    });

    test("large events arrive intact", async () => {
      const stream = await subscribe(["large"]);
      // 16 KiB: the reference encoder (base-x) is quadratic, so minting is the slow part.
      const data = Array.from({ length: 500 }, (_, i) => `line ${i} ${"x".repeat(24)}`).join("\n");
      await submit([{ topic: "large", event: "big", data }]);
      expect((await stream.next(1))[0]!.data).toBe(data);
    });

    test("disconnected subscribers leave no trace in the hub", async () => {
      const streams = await Promise.all([subscribe(["gone-1", "gone-2"]), subscribe(["gone-2"])]);
      const from = server.logs.length;
      for (const s of streams) s.close();
      for (const s of open.filter((s) => !streams.includes(s))) s.close();
      const entry = await waitForLog(server, (e) => e.msg === "stream closed" && e.streams === 0, { from });
      expect(entry.topics).toBe(0);
      await submit([{ topic: "gone-1", event: "", data: "into the void" }]);
    });
  });
}
