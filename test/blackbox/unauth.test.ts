/**
 * What a client without a key can make the server do, at default settings, on every
 * runtime: a token of the largest accepted size is rejected (401), one byte more is 413;
 * long valid tokens are verified on the worker thread and work; and while several clients
 * post max-size garbage, streams keep receiving events and the server keeps serving.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config.ts";
import { INLINE_MAX_CHARS } from "../../src/token/offload.ts";
import { floodSubmit } from "../helpers/flood.ts";
import { eventsUrl, expectHealthy, metric, postSubmit, SERVERS, startServer, type RunningServer } from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { randomBase62, SECRET_HEX, submitToken, subscribeToken, tamper } from "../helpers/tokens.ts";

const MAX_BODY = loadConfig({ SSE_SECRET: SECRET_HEX }).maxBodyBytes;

for (const kind of SERVERS) {
  describe(`${kind}: unauthenticated input`, () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer(kind);
    });
    afterAll(async () => {
      await expectHealthy(server);
      await server.stop();
    });

    test("max-size garbage is rejected with 401; one byte more is 413", async () => {
      const garbage = randomBase62(MAX_BODY);
      const rejected = await postSubmit(server, garbage);
      expect(rejected.status).toBe(401);
      expect(await rejected.text()).toMatch(/^invalid token: /);
      const tooLarge = await postSubmit(server, garbage + "0");
      expect(tooLarge.status).toBe(413);
      expect(await tooLarge.text()).toMatch(new RegExp(`larger than ${MAX_BODY} bytes`));
    });

    test("a long token rejected on the worker: 401 and counted by its reason, as inline", async () => {
      const long = submitToken([{ topic: "t", event: "e", data: "d".repeat(3000) }]);
      expect(long.length).toBeGreaterThan(INLINE_MAX_CHARS);
      const rejected = 'sse_token_rejections_total{reason="forged"}';
      const before = (await metric(server, rejected)) || 0;
      const answer = await postSubmit(server, tamper(long, (b) => void (b[200] ^= 1)));
      expect(answer.status).toBe(401);
      expect(await answer.text()).toMatch(/^invalid token: /);
      expect(await metric(server, rejected)).toBe(before + 1);
    });

    test("long valid tokens are verified on the worker and work: submit and subscribe", async () => {
      const before = await metric(server, "sse_tokens_offloaded_total");
      const topics = Array.from({ length: 40 }, (_, i) => `long-topic-${i}-${"t".repeat(60)}`);
      const subscribe = subscribeToken(topics);
      expect(subscribe.length).toBeGreaterThan(INLINE_MAX_CHARS);
      const stream = await openStream(eventsUrl(server, subscribe));
      expect(stream.response.status).toBe(200);
      const data = "d".repeat(20_000);
      const submit = submitToken([{ topic: topics[39]!, event: "big", data }]);
      expect(submit.length).toBeGreaterThan(INLINE_MAX_CHARS);
      const answer = await postSubmit(server, submit);
      expect(`${answer.status} ${await answer.text()}`).toBe("200 OK");
      expect((await stream.next(1))[0]).toMatchObject({ event: "big", data });
      stream.close();
      expect(await metric(server, "sse_tokens_offloaded_total")).toBe(before + 2);
    });

    test("during a flood of max-size garbage, a stream still gets its events promptly", async () => {
      const stream = await openStream(eventsUrl(server, subscribeToken(["live"])));
      const flood = floodSubmit(server, randomBase62(MAX_BODY), { clients: 6, durationMs: 3000 });
      const delays: number[] = [];
      for (let i = 0; i < 5; i++) {
        await Bun.sleep(300);
        const sent = Date.now();
        const answer = await postSubmit(server, submitToken([{ topic: "live", event: "", data: String(i) }]));
        expect(answer.status).toBe(200);
        expect((await stream.next(1, 5000))[0]!.data).toBe(String(i));
        delays.push(Date.now() - sent);
      }
      const statuses = await flood;
      stream.close();
      // Liveness, not speed: each event published and received well within a second.
      expect(Math.max(...delays)).toBeLessThan(1000);
      // The flood got answers, all of them refusals: 401, or 503 while the worker's queue was full.
      expect([...statuses.keys()].filter((s) => s !== 401 && s !== 503)).toEqual([]);
      expect(statuses.get(401) ?? 0).toBeGreaterThan(0);
      expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
    });
  });
}
