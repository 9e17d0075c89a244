/** Resumable streams: ids, Last-Event-ID replay, and the reset signal, on every runtime. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eventsUrl, expectHealthy, postSubmit, SERVERS, startServer, type RunningServer } from "../helpers/server.ts";
import { openStream, type EventStream, type ReceivedEvent } from "../helpers/sse.ts";
import { submitToken, subscribeToken, type TestEvent } from "../helpers/tokens.ts";

const datas = (events: ReceivedEvent[]) => events.map((e) => e.data);

for (const runtime of SERVERS) {
  describe(`${runtime}: resume`, () => {
    let server: RunningServer;
    const open: EventStream[] = [];
    const subscribe = async (topics: string[], headers: Record<string, string> = {}, query = "") => {
      const stream = await openStream(eventsUrl(server, subscribeToken(topics)) + query, { headers });
      open.push(stream);
      return stream;
    };
    const submit = async (topic: string, ...data: string[]) => {
      const events: TestEvent[] = data.map((d) => ({ topic, event: "n", data: d }));
      const res = await postSubmit(server, submitToken(events));
      expect(res.status).toBe(200);
      await res.text();
    };
    const resumeFrom = (topics: string[], lastId: string) => subscribe(topics, { "Last-Event-ID": lastId });

    beforeAll(async () => {
      server = await startServer(runtime, { env: { SSE_HISTORY_SIZE: "50" } });
    });
    afterAll(async () => {
      for (const s of open) s.close();
      await expectHealthy(server);
      await server.stop();
    });

    test("cut after k of n: reconnecting with the last id gets exactly the rest, in order", async () => {
      const first = await subscribe(["r1"]);
      await submit("r1", "1", "2", "3", "4", "5");
      const seen = await first.next(2);
      const lastId = seen.at(-1)!.id!;
      first.close();
      await submit("r1", "6", "7");
      const resumed = await resumeFrom(["r1"], lastId);
      expect(datas(await resumed.next(5))).toEqual(["3", "4", "5", "6", "7"]);
      await submit("r1", "8");
      expect(datas(await resumed.next(1))).toEqual(["8"]);
      await Bun.sleep(50);
      expect(resumed.pending).toEqual([]);
    });

    test("ids are echoed by a browser: every event carries one", async () => {
      const stream = await subscribe(["r-ids"]);
      await submit("r-ids", "a", "b");
      const [a, b] = await stream.next(2);
      expect(a!.id).toMatch(/^[0-9a-z]+-[0-9a-z]+$/);
      expect(a!.id).not.toBe(b!.id);
    });

    test("a stream that saw no event resumes from where it opened", async () => {
      const quiet = await subscribe(["r-quiet"]);
      const deadline = Date.now() + 3000;
      while (!quiet.lastEventId() && Date.now() < deadline) await Bun.sleep(10);
      const openedAt = quiet.lastEventId()!;
      expect(openedAt).toBeDefined();
      quiet.close();
      await submit("r-quiet", "while away");
      const resumed = await resumeFrom(["r-quiet"], openedAt);
      expect(datas(await resumed.next(1))).toEqual(["while away"]);
    });

    test("replay racing with live submits: no gap and no duplicate across the switch", async () => {
      const first = await subscribe(["race"]);
      await submit("race", "0");
      const lastId = (await first.next(1))[0]!.id!;
      first.close();
      await submit("race", "1", "2", "3");
      // Keep submitting while the client reconnects and replays.
      let n = 4;
      const writer = (async () => {
        for (; n < 40; n++) await submit("race", String(n));
      })();
      const resumed = await resumeFrom(["race"], lastId);
      await writer;
      const got = datas(await resumed.next(39));
      expect(got).toEqual(Array.from({ length: 39 }, (_, i) => String(i + 1)));
    });

    test("several topics in one token resume together, in submission order", async () => {
      const first = await subscribe(["m-a", "m-b", "m-c"]);
      await submit("m-a", "a1");
      const lastId = (await first.next(1))[0]!.id!;
      first.close();
      await submit("m-b", "b1");
      await submit("m-x", "not mine");
      await submit("m-c", "c1");
      await submit("m-a", "a2");
      const resumed = await resumeFrom(["m-a", "m-b", "m-c"], lastId);
      expect(datas(await resumed.next(3))).toEqual(["b1", "c1", "a2"]);
    });

    test("the lastEventId query parameter works; the header wins over it", async () => {
      const first = await subscribe(["q"]);
      await submit("q", "1", "2", "3");
      const [one, two] = await first.next(3);
      first.close();
      const byQuery = await subscribe(["q"], {}, `&lastEventId=${one!.id}`);
      expect(datas(await byQuery.next(2))).toEqual(["2", "3"]);
      const both = await subscribe(["q"], { "Last-Event-ID": two!.id! }, `&lastEventId=${one!.id}`);
      expect(datas(await both.next(1))).toEqual(["3"]);
    });

    const resets: [string, (id: string) => string, string][] = [
      ["an id older than the history", (id) => id, "evicted"],
      ["an unknown id", (id) => `zzzzzzz-${id.split("-")[1]}`, "unknown-id"],
      ["a garbage id", () => "garbage!", "unknown-id"],
    ];
    for (const [what, makeId, reason] of resets) {
      test(`${what}: a reset event first, then a healthy live stream`, async () => {
        const topic = `reset-${what.length}`;
        const first = await subscribe([topic]);
        await submit(topic, "first");
        const lastId = makeId((await first.next(1))[0]!.id!);
        first.close();
        // 60 more push what followed "first" out of the 50-event history.
        await submit(topic, ...Array.from({ length: 60 }, (_, i) => String(i)));
        const resumed = await resumeFrom([topic], lastId);
        const [signal] = await resumed.next(1);
        expect(signal).toMatchObject({ event: "reset", data: reason });
        expect(signal!.id).toMatch(/^[0-9a-z]+-[0-9a-z]+$/);
        await submit(topic, "live");
        expect(datas(await resumed.next(1))).toEqual(["live"]);
        // The reset's id is a valid position: resuming from it replays only what came after.
        resumed.close();
        const again = await resumeFrom([topic], signal!.id!);
        expect(datas(await again.next(1))).toEqual(["live"]);
      });
    }
  });
}

describe("history off (SSE_HISTORY_SIZE=0)", () => {
  test("events carry no id, and every resume is answered with the reset signal", async () => {
    const server = await startServer("bun", { env: { SSE_HISTORY_SIZE: "0" } });
    try {
      const stream = await openStream(eventsUrl(server, subscribeToken(["off"])));
      await postSubmit(server, submitToken([{ topic: "off", event: "", data: "x" }]));
      const [event] = await stream.next(1);
      expect(event!.id).toBeUndefined();
      const resumed = await openStream(eventsUrl(server, subscribeToken(["off"])), {
        headers: { "Last-Event-ID": "abc-1" },
      });
      const [signal] = await resumed.next(1);
      expect(signal).toMatchObject({ event: "reset", data: "history-off" });
      stream.close();
      resumed.close();
    } finally {
      await server.stop();
    }
  });
});
