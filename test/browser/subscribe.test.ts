/**
 * The browser client (`GET client.js`, `subscribe()`) in headless Chromium, against the
 * real server: every event once and in order, across dropped connections, expiring
 * tokens, a server going away, and tabs sharing one connection.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { SseClient } from "../../src/client.ts";
import {
  launchChromium,
  newPage,
  openPageSubscription,
  PAGE_TIMEOUT_MS,
  serveAppOrigin,
  type AppOrigin,
  type SubscriptionRecord,
} from "../helpers/browser.ts";
import { startProxy, type TcpProxy } from "../helpers/proxy.ts";
import { startRedis, type RedisNode } from "../helpers/redis.ts";
import { expectHealthy, postSubmit, startServer, type RunningServer } from "../helpers/server.ts";
import { SECRET_HEX, submitToken } from "../helpers/tokens.ts";

const TOPIC = "feed";
/** Quick reconnects: the server tells clients to come back within 0.2–0.5 s. */
const FAST_RETRY = { SSE_RETRY_MIN_MS: "200", SSE_RETRY_MAX_MS: "500" };

let browser: Browser;
beforeAll(async () => void (browser = await launchChromium()));
afterAll(() => browser?.close());

/** Submits events `from..to` (data "from" … "to") in batches of `batch`, in order. */
async function submitRange(server: RunningServer, from: number, to: number, batch = 1): Promise<void> {
  for (let i = from; i <= to; i += batch) {
    const events = Array.from({ length: Math.min(batch, to - i + 1) }, (_, k) => ({ topic: TOPIC, event: "", data: String(i + k) }));
    const res = await postSubmit(server, submitToken(events));
    expect(res.status).toBe(200);
    await res.text();
  }
}

const datas = (record: SubscriptionRecord) => record.events.map((e) => e.data);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

async function openStreams(server: RunningServer): Promise<number> {
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/^sse_open_streams (\d+)$/m.exec(metrics)?.[1]);
}

/** Polls until `ready` holds, bounded. */
async function until(ready: () => boolean | Promise<boolean>, what: string, timeoutMs = PAGE_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("subscribe() through a proxy that drops connections", () => {
  let server: RunningServer;
  let proxy: TcpProxy;
  let app: AppOrigin;
  let page: Page;
  let sse: SseClient;

  beforeAll(async () => {
    server = await startServer("bun", { env: { ...FAST_RETRY, SSE_TOKEN_TTL: "3" } });
    proxy = await startProxy(server.port);
    sse = new SseClient({ url: proxy.origin, secret: SECRET_HEX });
    // The redirect pattern: the app passes the page's lastEventId on to the URL it mints.
    app = serveAppOrigin((lastEventId) => sse.subscribeUrl([TOPIC], { lastEventId }));
    page = await newPage(browser);
    await page.goto(app.url);
  });
  afterAll(async () => {
    await page?.close();
    await app?.stop();
    await proxy?.close();
    if (server) await expectHealthy(server);
    await server?.stop();
  });

  test("events arrive in order with their ids; a cut connection resumes with no gap and no duplicate", async () => {
    const subscription = await openPageSubscription(page, `${server.url}/client.js`, { urlFrom: `${app.url}stream-url` }, { share: false });
    await subscription.opened();
    await submitRange(server, 1, 5);
    const first = await subscription.events(5);
    expect(first.map((e) => [e.type, e.data])).toEqual(range(1, 5).map((d) => ["message", d]));
    expect(new Set(first.map((e) => e.lastEventId)).size).toBe(5);
    expect(first.every((e) => e.lastEventId !== "")).toBe(true);

    expect(proxy.cutAll()).toBe(1);
    await submitRange(server, 6, 10);
    await subscription.opened(2);
    await submitRange(server, 11, 12);
    const seen = await subscription.events(12);
    expect(datas(await subscription.snapshot())).toEqual(range(1, 12));
    // The reconnect asked for what followed the last event the page had.
    const reconnect = proxy.requestHeads().filter((h) => h.startsWith("GET /events?"))[1]!;
    expect(decodeURIComponent(/lastEventId=([^ &]*)/.exec(reconnect)![1]!)).toBe(seen[4]!.lastEventId);
    await subscription.close();
  });

  test("SSE_TOKEN_TTL=3: over 4 and more expiries (redirect pattern and URL function), a steady flow with no gap or duplicate", async () => {
    const redirected = await openPageSubscription(page, `${server.url}/client.js`, `${app.url}events`, { share: false });
    const fromFunction = await openPageSubscription(page, `${server.url}/client.js`, { urlFrom: `${app.url}stream-url` }, { share: false });
    await Promise.all([redirected.opened(), fromFunction.opened()]);
    const firstUrl = sse.subscribeUrl([TOPIC]);

    // 18 s of events, one every 50 ms; every 4 s (after the token has expired) the connections are cut.
    let published = 0;
    const started = Date.now();
    let nextCut = started + 4000;
    let cuts = 0;
    while (Date.now() - started < 18_000) {
      await submitRange(server, published + 1, published + 1);
      published++;
      if (Date.now() >= nextCut) {
        cuts += proxy.cutAll() > 0 ? 1 : 0;
        nextCut += 4000;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(cuts).toBeGreaterThanOrEqual(4);
    for (const subscription of [redirected, fromFunction]) {
      await subscription.events(published);
      const record = await subscription.snapshot();
      expect(datas(record)).toEqual(range(1, published));
      expect(record.opens).toBeGreaterThanOrEqual(cuts + 1);
    }
    // Each reconnect through the app's route carried the page's last id on.
    expect(app.redirected.length).toBeGreaterThanOrEqual(cuts + 1);
    expect(app.redirected.slice(1).every((id) => id !== "")).toBe(true);
    // And the tokens did expire: the first URL is refused now.
    expect((await fetch(firstUrl.replace(proxy.origin, `http://127.0.0.1:${server.port}`))).status).toBe(401);
    await Promise.all([redirected.close(), fromFunction.close()]);
  }, 60_000);
});
