/**
 * Reconnects are spread: every stream opens with its own random `retry:` in the configured
 * range, and a full server tells a browser (it asks for text/event-stream) to come back
 * later with a stream that holds only a `retry:` and ends, where it tells others 503.
 */
import { describe, expect, test } from "bun:test";
import { eventsUrl, expectHealthy, SERVERS, startServer } from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { subscribeToken } from "../helpers/tokens.ts";

/** The stream's bytes until its `retry:` line has come (or the stream ended). */
async function readUntilRetry(url: string, init?: RequestInit): Promise<{ response: Response; text: string; retryMs: number }> {
  const response = await fetch(url, init);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let match: RegExpMatchArray | null = null;
  while (!(match = text.match(/^retry: (\d+)\n/m))) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  if (!match) throw new Error(`no retry line in ${JSON.stringify(text)}`);
  return { response, text, retryMs: Number(match[1]) };
}

for (const runtime of SERVERS) {
  describe(`${runtime}: reconnection delays`, () => {
    test("each stream gets its own retry, spread over SSE_RETRY_MIN_MS..SSE_RETRY_MAX_MS", async () => {
      const server = await startServer(runtime, { env: { SSE_RETRY_MIN_MS: "2000", SSE_RETRY_MAX_MS: "8400" } });
      try {
        const url = eventsUrl(server, subscribeToken(["spread"]));
        const delays: number[] = [];
        for (let i = 0; i < 60; i++) delays.push((await readUntilRetry(url)).retryMs);
        for (const ms of delays) {
          expect(ms).toBeGreaterThanOrEqual(2000);
          expect(ms).toBeLessThanOrEqual(8400);
        }
        // 60 draws over 65 steps: far from all alike, and reaching both halves of the range.
        expect(new Set(delays).size).toBeGreaterThanOrEqual(20);
        expect(Math.min(...delays)).toBeLessThan(5200);
        expect(Math.max(...delays)).toBeGreaterThan(5200);
        await expectHealthy(server);
      } finally {
        await server.stop();
      }
    });

    test("over SSE_MAX_STREAMS, a browser is told to come back later; others get 503", async () => {
      const server = await startServer(runtime, { env: { SSE_MAX_STREAMS: "1", SSE_RETRY_MIN_MS: "500", SSE_RETRY_MAX_MS: "900" } });
      try {
        const url = eventsUrl(server, subscribeToken(["full"]));
        const holding = await openStream(url);
        const browser = await fetch(url, { headers: { Accept: "text/event-stream" } });
        expect(browser.status).toBe(200);
        expect(browser.headers.get("content-type")).toBe("text/event-stream");
        expect(browser.headers.get("access-control-allow-origin")).toBe("*");
        const told = await browser.text(); // the stream ends after it
        const retry = told.match(/^retry: (\d+)\n: too many open streams \(limit 1\); retry later\n\n$/);
        expect(retry).not.toBeNull();
        expect(Number(retry![1])).toBeGreaterThanOrEqual(500);
        expect(Number(retry![1])).toBeLessThanOrEqual(900);
        const other = await fetch(url);
        expect(other.status).toBe(503);
        expect(other.headers.get("retry-after")).toBe("5");
        await other.text();
        holding.close();
        await expectHealthy(server);
      } finally {
        await server.stop();
      }
    });
  });
}
