/**
 * What a real browser's `EventSource` makes of our streams, on each runtime: the bytes
 * tests parse elsewhere, here as `addEventListener` in a page on another origin sees them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium, newPage, openPageEventSource, serveBlankOrigin, type BlankOrigin } from "../helpers/browser.ts";
import { eventsUrl, expectHealthy, postSubmit, SERVERS, startServer, waitForLog, type RunningServer } from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { OTHER_SECRET_HEX, submitToken, subscribeToken, tamper, type TestEvent } from "../helpers/tokens.ts";

const TOKEN_TTL_SECONDS = 60;

let browser: Browser;
let origin: BlankOrigin;

beforeAll(async () => {
  [browser, origin] = await Promise.all([launchChromium(), serveBlankOrigin()]);
});
afterAll(async () => {
  await browser?.close();
  await origin?.stop();
});

for (const runtime of SERVERS) {
  describe(`${runtime}: EventSource in Chromium`, () => {
    let server: RunningServer;
    let page: Page;

    const submit = async (events: TestEvent[]) => {
      const res = await postSubmit(server, submitToken(events));
      expect(res.status).toBe(200);
      await res.text();
    };

    beforeAll(async () => {
      page = await newPage(browser);
      await page.goto(origin.url);
      server = await startServer(runtime, { env: { SSE_TOKEN_TTL: String(TOKEN_TTL_SECONDS) } });
    });
    afterAll(async () => {
      await page?.close();
      if (!server) return;
      try {
        await expectHealthy(server);
      } finally {
        await server.stop();
      }
    });

    test("empty data, a named event, multi-line and unicode data, by addEventListener", async () => {
      const source = await openPageEventSource(page, eventsUrl(server, subscribeToken(["shapes"])), [
        "message",
        "update",
        "multi",
        "uni",
      ]);
      await source.opened();
      await submit([
        { topic: "shapes", event: "", data: "" },
        { topic: "shapes", event: "update", data: "hello" },
        { topic: "shapes", event: "multi", data: "a\nb\r\nc\rd" },
        { topic: "shapes", event: "uni", data: "héllo ✓ 😀 日本" },
        { topic: "shapes", event: "", data: "plain" },
      ]);
      expect(await source.events(5)).toEqual([
        // An empty-data event still reaches the page (it carries one empty `data:` line).
        { type: "message", data: "" },
        { type: "update", data: "hello" },
        // Every line break becomes "\n" in the browser, whatever the publisher used.
        { type: "multi", data: "a\nb\nc\nd" },
        { type: "uni", data: "héllo ✓ 😀 日本" },
        { type: "message", data: "plain" },
      ]);
      await source.close();
    });

    test("an expired or forged token: the page sees the error, no retry, the server stays healthy", async () => {
      const fresh = subscribeToken(["t"]);
      const badTokens: [string, string][] = [
        ["expired", subscribeToken(["t"], { timestamp: Math.floor(Date.now() / 1000) - 10 * TOKEN_TTL_SECONDS })],
        ["forged", tamper(fresh, (bytes) => void (bytes[bytes.length - 1]! ^= 1))],
        ["forged", subscribeToken(["t"], { secretHex: OTHER_SECRET_HEX })],
      ];
      const from = server.logs.length;
      for (const [reason, token] of badTokens) {
        const source = await openPageEventSource(page, eventsUrl(server, token));
        // A 401 "fails the connection": error fires once and the browser does not reconnect.
        await source.failed();
        const seen = await source.snapshot();
        expect({ reason, opens: seen.opens, readyState: seen.readyState }).toEqual({ reason, opens: 0, readyState: 2 });
      }
      // The browser never sees why; the server's log says it refused each for the right reason.
      for (const reason of [/expired/, /authentication failed/]) {
        await waitForLog(server, (e) => e.msg === "request rejected" && e.status === 401 && reason.test(String(e.reason)), { from });
      }
      // The same page still gets a working stream afterwards.
      const source = await openPageEventSource(page, eventsUrl(server, fresh));
      await source.opened();
      await submit([{ topic: "t", event: "", data: "still fine" }]);
      expect(await source.events(1)).toEqual([{ type: "message", data: "still fine" }]);
      await source.close();
      await expectHealthy(server);
    });

    test("over SSE_MAX_STREAMS, a plain EventSource keeps retrying and gets in once there is room", async () => {
      const full = await startServer(runtime, { env: { SSE_MAX_STREAMS: "1", SSE_RETRY_MIN_MS: "200", SSE_RETRY_MAX_MS: "400" } });
      try {
        const url = eventsUrl(full, subscribeToken(["room"]));
        const holder = await openStream(url);
        const source = await openPageEventSource(page, url);
        // Told to come back: it opens, the answer ends, it reconnects... more than once.
        await source.opened(2);
        expect((await source.snapshot()).readyState).not.toBe(2); // never CLOSED: it has not given up
        holder.close();
        // The place is free: the next attempt is a real stream, which gets the event.
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          const res = await postSubmit(full, submitToken([{ topic: "room", event: "", data: "in at last" }]));
          expect(res.status).toBe(200);
          await res.text();
          if ((await source.snapshot()).events.length > 0) break;
          await Bun.sleep(200);
        }
        expect((await source.snapshot()).events[0]).toEqual({ type: "message", data: "in at last" });
        await source.close();
        await expectHealthy(full);
      } finally {
        await full.stop();
      }
    });
  });
}
