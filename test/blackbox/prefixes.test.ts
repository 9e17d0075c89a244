/** Prefix grants over real sockets, on every runtime: matching topics only, each event once, resume. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { suiteClient } from "../helpers/clients.ts";
import { eventsUrl, expectHealthy, SERVERS, startServer, type RunningServer } from "../helpers/server.ts";
import { openStream, type ReceivedEvent } from "../helpers/sse.ts";
import { mint, type TestEvent } from "../helpers/tokens.ts";

const datas = (events: readonly ReceivedEvent[]) => events.map((e) => e.data);
const one = (topic: string, data: string): TestEvent => ({ topic, event: "n", data });

for (const runtime of SERVERS) {
  describe(`${runtime}: prefix grants`, () => {
    let server: RunningServer;
    const client = suiteClient();

    beforeAll(async () => {
      server = await startServer(runtime, { env: { SSE_HISTORY_SIZE: "50" } });
    });
    afterAll(async () => {
      client.closeAll();
      await expectHealthy(server);
      await server.stop();
    });

    test("a prefix stream receives every topic under its prefix and the listed topics, in order, and nothing else", async () => {
      const stream = await client.subscribePrefixes(server, ["news"], ["user-42/"]);
      expect(stream.response.status).toBe(200);
      await client.submit(server, [
        one("user-42/inbox", "1"),
        one("user-421/inbox", "not mine"),
        one("news", "2"),
        one("user-4", "not mine"),
        one("user-42/a/b", "3"),
      ]);
      await client.submit(server, [one("user-42/", "4")]);
      expect(datas(await stream.next(4))).toEqual(["1", "2", "3", "4"]);
      await Bun.sleep(50);
      expect(stream.pending).toEqual([]);
    });

    test("overlapping grants (a topic, a prefix and a longer one all matching): each event once", async () => {
      const stream = await client.subscribePrefixes(server, ["o/b/c"], ["o/", "o/b/"]);
      const exact = await client.subscribe(server, ["o/b/c"]);
      await client.submit(server, [one("o/b/c", "1"), one("o/x", "2"), one("o/b/c", "3")]);
      expect(datas(await stream.next(3))).toEqual(["1", "2", "3"]);
      expect(datas(await exact.next(2))).toEqual(["1", "3"]);
      await Bun.sleep(50);
      expect(stream.pending).toEqual([]);
    });

    test("resume: the missed events of every topic under the prefix, in order, then live", async () => {
      const first = await client.subscribePrefixes(server, [], ["r/"]);
      await client.submit(server, [one("r/a", "seen")]);
      const lastId = (await first.next(1))[0]!.id!;
      first.close();
      await client.submit(server, [one("r/b", "1"), one("s/x", "not mine"), one("r/a", "2")]);
      await client.submit(server, [one("r/c/d", "3")]);
      const resumed = await client.subscribePrefixes(server, [], ["r/"], lastId);
      expect(datas(await resumed.next(3))).toEqual(["1", "2", "3"]);
      await client.submit(server, [one("r/z", "live")]);
      expect(datas(await resumed.next(1))).toEqual(["live"]);
    });

    test("metrics count the prefixes with local streams, once each", async () => {
      const gauge = async () => {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        return Number(/^sse_subscribed_prefixes (\d+)$/m.exec(text)?.[1]);
      };
      const before = await gauge();
      const streams = [
        await client.subscribePrefixes(server, [], ["m/1/"]),
        await client.subscribePrefixes(server, [], ["m/1/", "m/2/"]),
      ];
      expect(await gauge()).toBe(before + 2);
      for (const stream of streams) stream.close();
      const deadline = Date.now() + 3000;
      while ((await gauge()) !== before && Date.now() < deadline) await Bun.sleep(20);
      expect(await gauge()).toBe(before);
    });

    test("an empty prefix or a bad prefixes field is a 400; the positional form works", async () => {
      for (const payload of [{ topics: [], prefixes: [""] }, { topics: [], prefixes: "p/" }, [[], [7]]]) {
        const response = await fetch(eventsUrl(server, mint(payload)));
        expect({ payload, status: response.status }).toEqual({ payload, status: 400 });
        await response.text();
      }
      // rmp_serde writes `{topics, prefixes}` as `[[topics], [prefixes]]`.
      const positional = client.track(await openStream(eventsUrl(server, mint([[], ["pos/"]]))));
      expect(positional.response.status).toBe(200);
      await client.submit(server, [one("pos/1", "ok")]);
      expect(datas(await positional.next(1))).toEqual(["ok"]);
    });
  });
}
