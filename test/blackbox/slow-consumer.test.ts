/**
 * A subscriber that stops reading is disconnected once its backlog passes the bound —
 * never silently skipped — while the other subscribers of the topic get everything.
 */
import { describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { eventsUrl, expectHealthy, postSubmit, SERVERS, startServer } from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { submitToken, subscribeToken } from "../helpers/tokens.ts";

const DATA = "z".repeat(32 * 1024);
const MAX_SUBMITS = 600; // 19 MiB: far beyond what loopback socket buffers absorb

for (const runtime of SERVERS) {
  describe(`${runtime}: slow consumer`, () => {
    test("is cut off after the bound; a healthy subscriber gets every event", async () => {
      const server = await startServer(runtime, {
        env: { SSE_MAX_BUFFERED_EVENTS: "8", SSE_MAX_BODY_BYTES: String(1 << 20), SSE_MAX_EVENT_BYTES: String(1 << 20) },
      });
      try {
        const healthy = await openStream(eventsUrl(server, subscribeToken(["firehose"])));
        // A raw client that sends its request and then never reads.
        const slow = connect(server.port, "127.0.0.1");
        await new Promise<void>((resolve) => slow.once("connect", () => resolve()));
        const path = new URL(eventsUrl(server, subscribeToken(["firehose"]))).pathname +
          new URL(eventsUrl(server, subscribeToken(["firehose"]))).search;
        slow.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        slow.pause();
        let slowClosed = false;
        slow.on("close", () => (slowClosed = true));
        slow.on("error", () => {});
        await Bun.sleep(200);

        const token = submitToken([{ topic: "firehose", event: "big", data: DATA }]);
        let submitted = 0;
        let cut = false;
        let received = 0;
        while (submitted < MAX_SUBMITS && !cut) {
          const res = await postSubmit(server, token);
          expect(res.status).toBe(200);
          await res.text();
          submitted++;
          // Keep the healthy subscriber drained, so only the slow one falls behind.
          received += (await healthy.next(1, 10_000)).length;
          cut = server.logs.some((l) => l.includes("slow subscriber disconnected"));
        }
        expect(cut).toBe(true);
        expect(received).toBe(submitted);

        // The healthy stream is unaffected and keeps receiving.
        const after = await postSubmit(server, submitToken([{ topic: "firehose", event: "after", data: "x" }]));
        expect(after.status).toBe(200);
        expect((await healthy.next(1))[0]!.event).toBe("after");

        // The slow client, reading at last, finds its connection ended short of everything.
        let bytes = 0;
        slow.on("data", (chunk: Buffer) => (bytes += chunk.length));
        slow.resume();
        const deadline = Date.now() + 10_000;
        while (!slowClosed && Date.now() < deadline) await Bun.sleep(50);
        expect(slowClosed).toBe(true);
        expect(bytes).toBeLessThan((submitted + 1) * DATA.length);
        healthy.close();
        await expectHealthy(server);
      } finally {
        await server.stop();
      }
    }, 120_000);
  });
}
