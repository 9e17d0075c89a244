/**
 * After a restart, 200 plain `EventSource`s in Chromium come back spread over the
 * `retry:` range instead of all at once. The spread is what is measured, not a timing:
 * each stream's reconnect, relative to the first, lands across the range.
 *
 * A browser holds at most six HTTP/1.1 connections per host, so the streams go to 34 host
 * names that Chromium resolves to 127.0.0.1 (`--host-resolver-rules`): loopback only.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chromium, type Browser } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH, newPage, serveBlankOrigin, type BlankOrigin } from "../helpers/browser.ts";
import { freePort } from "../helpers/redis.ts";
import { expectHealthy, startServer, type RunningServer } from "../helpers/server.ts";
import { subscribeToken } from "../helpers/tokens.ts";

const STREAMS = 200;
const HOSTS = 34;
const RETRY = { min: 1000, max: 6000 };

let browser: Browser;
let origin: BlankOrigin;
beforeAll(async () => {
  origin = serveBlankOrigin();
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, "--host-resolver-rules=MAP *.sse.test 127.0.0.1"],
    timeout: 30_000,
  });
});
afterAll(async () => {
  await browser?.close();
  await origin?.stop();
});

declare global {
  var __reconnects: number[] | undefined;
}

test("200 EventSources reconnect spread over SSE_RETRY_MIN_MS..SSE_RETRY_MAX_MS after a restart", async () => {
  const port = await freePort();
  const env = { PORT: String(port), SSE_RETRY_MIN_MS: String(RETRY.min), SSE_RETRY_MAX_MS: String(RETRY.max) };
  let server: RunningServer = await startServer("bun", { env });
  const page = await newPage(browser);
  try {
    await page.goto(origin.url);
    const token = subscribeToken(["spread"]);
    const urls = Array.from({ length: STREAMS }, (_, i) => `http://h${i % HOSTS}.sse.test:${port}/events?token=${token}`);
    await page.evaluate((urls) => {
      globalThis.__reconnects = [];
      for (const url of urls) {
        const source = new EventSource(url);
        let opens = 0;
        source.addEventListener("open", () => {
          if (++opens === 2) globalThis.__reconnects!.push(performance.now());
        });
      }
    }, urls);
    await waitForStreams(server, STREAMS);
    await server.stop();
    server = await startServer("bun", { env });
    await page.waitForFunction(`globalThis.__reconnects.length >= ${STREAMS}`, undefined, { timeout: RETRY.max + 20_000 });
    const times = (await page.evaluate(() => globalThis.__reconnects!)).sort((a, b) => a - b);
    const offsets = times.map((t) => t - times[0]!);
    const range = RETRY.max - RETRY.min;
    // Spread, not a storm: the middle half of the reconnects spans a good part of the
    // range, and no half-second holds more than a fifth of them.
    const quartile = (q: number) => offsets[Math.floor(q * (offsets.length - 1))]!;
    console.log(`reconnects after the first: quartiles ${[0.25, 0.5, 0.75, 1].map((q) => quartile(q).toFixed(0)).join(", ")} ms`);
    expect(quartile(0.75) - quartile(0.25)).toBeGreaterThan(range * 0.3);
    const busiest = Math.max(...offsets.map((o) => offsets.filter((x) => x >= o && x < o + 500).length));
    expect(busiest).toBeLessThan(STREAMS / 5);
    await waitForStreams(server, STREAMS);
    await expectHealthy(server);
  } finally {
    await page.close();
    await server.stop();
  }
}, 90_000);

async function waitForStreams(server: RunningServer, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const open = Number(text.match(/^sse_open_streams (\d+)/m)?.[1] ?? 0);
    if (open >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${open} of ${count} streams open`);
    await Bun.sleep(100);
  }
}
