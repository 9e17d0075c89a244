/**
 * SSE_CLOSE_ON_EXPIRY: a stream ends, after an `expired` event, once its token has run out;
 * without it, an open stream outlives its token (the original's behaviour).
 */
import { describe, expect, test } from "bun:test";
import { eventsUrl, expectHealthy, postSubmit, SERVERS, startServer } from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { submitToken, subscribeToken } from "../helpers/tokens.ts";

const TTL = 3;

for (const runtime of SERVERS) {
  describe(`${runtime}: streams and token expiry`, () => {
    test("SSE_CLOSE_ON_EXPIRY=true: an expired event, then the end, soon after the token runs out", async () => {
      const server = await startServer(runtime, { env: { SSE_TOKEN_TTL: String(TTL), SSE_CLOSE_ON_EXPIRY: "true" } });
      try {
        const now = Math.floor(Date.now() / 1000);
        const expiring = await openStream(eventsUrl(server, subscribeToken(["exp"], { timestamp: now - 1 })));
        const fresh = await openStream(eventsUrl(server, subscribeToken(["exp"], { timestamp: now + 60 })));
        const submitted = await postSubmit(server, submitToken([{ topic: "exp", event: "", data: "before" }]));
        expect(submitted.status).toBe(200);
        expect((await expiring.next(1))[0]!.data).toBe("before");
        // Valid through second now - 1 + TTL; ended in the tick after it.
        const [expired] = await expiring.next(1, (TTL + 3) * 1000);
        expect(expired).toMatchObject({ event: "expired", data: "token expired" });
        expect(await expiring.ended).toBe(true);
        expect(Math.floor(Date.now() / 1000)).toBeGreaterThan(now - 1 + TTL);
        // The other stream's token runs for another minute: it goes on.
        const later = await postSubmit(server, submitToken([{ topic: "exp", event: "", data: "after" }]));
        expect(later.status).toBe(200);
        expect((await fresh.next(2)).map((e) => e.data)).toEqual(["before", "after"]);
        fresh.close();
        await expectHealthy(server);
      } finally {
        await server.stop();
      }
    }, 30_000);

    test("by default an open stream outlives its token", async () => {
      const server = await startServer(runtime, { env: { SSE_TOKEN_TTL: "2" } });
      try {
        const now = Math.floor(Date.now() / 1000);
        const stream = await openStream(eventsUrl(server, subscribeToken(["keep"], { timestamp: now - 1 })));
        await Bun.sleep(3500);
        const res = await postSubmit(server, submitToken([{ topic: "keep", event: "", data: "still here" }]));
        expect(res.status).toBe(200);
        expect(await stream.next(1)).toMatchObject([{ event: "message", data: "still here" }]);
        stream.close();
      } finally {
        await server.stop();
      }
    }, 30_000);
  });
}
