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
import { expectHealthy, postSubmit, SERVERS, startServer, type RunningServer, type ServerKind } from "../helpers/server.ts";
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

/** A server behind a proxy that can drop connections, an app origin minting stream URLs through it, a page there. */
function proxiedSetup(runtime: ServerKind, env: Record<string, string> = {}) {
  const setup = {} as { server: RunningServer; proxy: TcpProxy; app: AppOrigin; page: Page; sse: SseClient };
  beforeAll(async () => {
    setup.server = await startServer(runtime, { env: { ...FAST_RETRY, SSE_TOKEN_TTL: "3", ...env } });
    setup.proxy = await startProxy(setup.server.port);
    setup.sse = new SseClient({ url: setup.proxy.origin, secret: SECRET_HEX });
    // The redirect pattern: the app passes the page's lastEventId on to the URL it mints.
    setup.app = serveAppOrigin((lastEventId) => setup.sse.subscribeUrl([TOPIC], { lastEventId }));
    setup.page = await newPage(browser);
    await setup.page.goto(setup.app.url);
  });
  afterAll(async () => {
    await setup.page?.close();
    await setup.app?.stop();
    await setup.proxy?.close();
    if (setup.server) await expectHealthy(setup.server);
    await setup.server?.stop();
  });
  return setup;
}

for (const runtime of SERVERS) {
  describe(`${runtime}: subscribe() through a proxy that drops connections`, () => {
    const setup = proxiedSetup(runtime);

    test("events arrive in order with their ids; a cut connection resumes with no gap and no duplicate", async () => {
      const { server, proxy, app, page } = setup;
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
  });
}

describe("bun: subscribe() while tokens expire", () => {
  const setup = proxiedSetup("bun");

  test("SSE_TOKEN_TTL=3: over 4 and more expiries (redirect pattern and URL function), a steady flow with no gap or duplicate", async () => {
    const { server, proxy, app, page, sse } = setup;
    const redirected = await openPageSubscription(page, `${server.url}/client.js`, `${app.url}events`, { share: false });
    const fromFunction = await openPageSubscription(page, `${server.url}/client.js`, { urlFrom: `${app.url}stream-url` }, { share: false });
    await Promise.all([redirected.opened(), fromFunction.opened()]);
    const firstUrl = sse.subscribeUrl([TOPIC]);

    // 20 s of events, one every 50 ms; every 4 s (after the token has expired) the connections are cut.
    let published = 0;
    const started = Date.now();
    let nextCut = started + 4000;
    let cuts = 0;
    while (Date.now() - started < 20_000) {
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

describe("bun: subscribe() while the server ends streams as their tokens expire (SSE_CLOSE_ON_EXPIRY)", () => {
  const setup = proxiedSetup("bun", { SSE_CLOSE_ON_EXPIRY: "true" });

  test("SSE_TOKEN_TTL=3: every stream ends at its token's expiry, and the page sees a steady flow with no gap or duplicate", async () => {
    const { server, app, page } = setup;
    const redirected = await openPageSubscription(page, `${server.url}/client.js`, `${app.url}events`, { share: false });
    const fromFunction = await openPageSubscription(page, `${server.url}/client.js`, { urlFrom: `${app.url}stream-url` }, { share: false });
    await Promise.all([redirected.opened(), fromFunction.opened()]);
    // 20 s of events, one every 50 ms; nothing cuts the connections but the expiries.
    let published = 0;
    const started = Date.now();
    while (Date.now() - started < 20_000) {
      await submitRange(server, published + 1, published + 1);
      published++;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const subscription of [redirected, fromFunction]) {
      await subscription.events(published);
      const record = await subscription.snapshot();
      expect(datas(record)).toEqual(range(1, published));
      // A stream lives 3-4 s: at least 4 expiries in 20 s, each followed by a reconnect.
      expect(record.opens).toBeGreaterThanOrEqual(5);
    }
    expect(app.redirected.slice(1).every((id) => id !== "")).toBe(true);
    await Promise.all([redirected.close(), fromFunction.close()]);
  }, 60_000);
});

describe("subscribe() across a server that goes away (two instances behind one Redis)", () => {
  let redis: RedisNode;
  let servers: RunningServer[];
  let current: RunningServer;
  let app: AppOrigin;
  let page: Page;

  beforeAll(async () => {
    redis = await startRedis();
    servers = await Promise.all((["bun", "node"] as const).map((runtime) => startServer(runtime, { env: { ...FAST_RETRY, REDIS_URL: redis.url } })));
    current = servers[0]!;
    // The app redirects to whichever instance is up, passing the page's lastEventId on.
    app = serveAppOrigin((lastEventId) => new SseClient({ url: current.url, secret: SECRET_HEX }).subscribeUrl([TOPIC], { lastEventId }));
    page = await newPage(browser);
    await page.goto(app.url);
  });
  afterAll(async () => {
    await page?.close();
    await app?.stop();
    for (const server of servers ?? []) await server.stop();
    await redis?.stop();
  });

  test("the instance it is on shuts down mid-flow: it resumes on the other from Redis, no gap, no duplicate", async () => {
    const [first, second] = servers as [RunningServer, RunningServer];
    const subscription = await openPageSubscription(page, `${second.url}/client.js`, `${app.url}events`, { share: false });
    await subscription.opened();
    await until(async () => (await openStreams(first)) === 1, "the page's stream is on the first instance");
    await submitRange(second, 1, 20);
    await subscription.events(20);

    // Events keep coming through the second instance while the first drains and exits.
    const publishing = (async () => {
      for (let i = 21; i <= 120; i++) {
        await submitRange(second, i, i);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    current = second;
    expect(await first.stop("SIGTERM")).toBe(0);
    await publishing;
    await subscription.events(120);
    const record = await subscription.snapshot();
    expect(datas(record)).toEqual(range(1, 120));
    expect(record.opens).toBe(2);
    expect(await openStreams(second)).toBe(1);
    // The reconnect through the app carried an id the page had seen.
    expect(record.events.map((e) => e.lastEventId)).toContain(app.redirected[1]!);
    await subscription.close();
  }, 60_000);
});

describe("subscribe() shared by the tabs of a browser", () => {
  let server: RunningServer;
  let app: AppOrigin;
  let context: BrowserContext;

  beforeAll(async () => {
    // A history long enough to cover a takeover's seconds of events.
    server = await startServer("bun", { env: { ...FAST_RETRY, SSE_HISTORY_SIZE: "2000" } });
    const sse = new SseClient({ url: server.url, secret: SECRET_HEX });
    app = serveAppOrigin((lastEventId) => sse.subscribeUrl([TOPIC], { lastEventId }));
    context = await browser.newContext();
  });
  afterAll(async () => {
    await context?.close();
    await app?.stop();
    if (server) await expectHealthy(server);
    await server?.stop();
  });

  test("8 tabs, one connection: every tab gets all 500 events in order; the leader's tab closes and another takes over with no gap or duplicate", async () => {
    const pages = await Promise.all(Array.from({ length: 8 }, () => context.newPage()));
    for (const page of pages) await page.goto(app.url);
    const subscribeIn = (page: Page) => openPageSubscription(page, `${server.url}/client.js`, `${app.url}events`);
    // The first tab to subscribe takes the lock: it is the leader.
    const leader = await subscribeIn(pages[0]!);
    await leader.opened();
    const followers = await Promise.all(pages.slice(1).map(subscribeIn));
    await Promise.all(followers.map((f) => f.opened()));
    expect(await openStreams(server)).toBe(1);

    await submitRange(server, 1, 500, 50);
    for (const tab of [leader, ...followers]) {
      await tab.events(500);
      expect(datas(await tab.snapshot())).toEqual(range(1, 500));
    }
    expect(await openStreams(server)).toBe(1);

    // Events keep coming while the leader's tab closes.
    const publishing = (async () => {
      for (let i = 501; i <= 700; i++) {
        await submitRange(server, i, i);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    await pages[0]!.close();
    await publishing;
    for (const tab of followers) {
      await tab.events(700);
      expect(datas(await tab.snapshot())).toEqual(range(1, 700));
    }
    await until(async () => (await openStreams(server)) === 1, "one stream is open again");
    // One hand-over: the new leader reconnected once, from the last id it had.
    expect(app.redirected.length).toBe(2);
    expect((await followers[0]!.snapshot()).events.map((e) => e.lastEventId)).toContain(app.redirected[1]!);
  }, 60_000);

  test("a URL function is shared under its shareKey; without Web Locks each tab connects on its own", async () => {
    const pages = await Promise.all(Array.from({ length: 5 }, () => context.newPage()));
    for (const page of pages) await page.goto(app.url);
    const before = await openStreams(server);
    const urlFrom = { urlFrom: `${app.url}stream-url` };
    const shared = [];
    for (const page of pages.slice(0, 3)) shared.push(await openPageSubscription(page, `${server.url}/client.js`, urlFrom, { shareKey: "feed" }));
    await Promise.all(shared.map((s) => s.opened()));
    expect(await openStreams(server)).toBe(before + 1);

    // Browsers without Web Locks: no election, one stream per tab.
    const lockless = [];
    for (const page of pages.slice(3)) {
      await page.evaluate(() => Object.defineProperty(navigator, "locks", { value: undefined }));
      lockless.push(await openPageSubscription(page, `${server.url}/client.js`, `${app.url}events?tabs=lockless`));
    }
    await Promise.all(lockless.map((s) => s.opened()));
    expect(await openStreams(server)).toBe(before + 3);

    await submitRange(server, 1, 20, 5);
    for (const tab of [...shared, ...lockless]) {
      await tab.events(20);
      expect(datas(await tab.snapshot())).toEqual(range(1, 20));
    }
    await Promise.all(pages.map((p) => p.close()));
    await until(async () => (await openStreams(server)) === before, "the closed tabs' streams ended");
  }, 30_000);

  test("a frozen leader: a visible tab takes over within seconds, no tab misses or repeats an event, not even the woken one", async () => {
    const pages = await Promise.all(Array.from({ length: 3 }, () => context.newPage()));
    for (const page of pages) await page.goto(app.url);
    // A source of its own: not shared with the tabs of the test before.
    const source = `${app.url}events?tabs=frozen`;
    const subscribeIn = (page: Page) => openPageSubscription(page, `${server.url}/client.js`, source);
    const leader = await subscribeIn(pages[0]!);
    await leader.opened();
    const followers = await Promise.all(pages.slice(1).map(subscribeIn));
    await Promise.all(followers.map((f) => f.opened()));
    expect(await pages[1]!.evaluate(() => document.visibilityState)).toBe("visible");
    const before = await openStreams(server);
    await submitRange(server, 1, 10);
    for (const tab of [leader, ...followers]) await tab.events(10);

    // The leader's tab stops running (its script paused in the debugger: as frozen or hung
    // as a tab gets); events keep coming.
    const cdp = await context.newCDPSession(pages[0]!);
    await cdp.send("Debugger.enable");
    await cdp.send("Debugger.pause");
    const frozenAt = Date.now();
    const publishing = (async () => {
      for (let i = 11; i <= 400; i++) {
        await submitRange(server, i, i);
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    await until(async () => (await openStreams(server)) === before + 1, "a follower took over", 15_000);
    const takeover = Date.now() - frozenAt;
    await publishing;
    for (const tab of followers) {
      await tab.events(400);
      expect(datas(await tab.snapshot())).toEqual(range(1, 400));
    }

    // Woken up, the old leader finds its lock gone: it drops its stream and follows the
    // new leader from where it stopped: it too has every event once.
    await cdp.send("Debugger.resume");
    await until(async () => (await openStreams(server)) === before, "the woken tab dropped its stream");
    await submitRange(server, 401, 402);
    for (const tab of [leader, ...followers]) {
      await tab.events(402);
      expect(datas(await tab.snapshot())).toEqual(range(1, 402));
    }
    console.log(`frozen leader replaced after ${takeover} ms`);
    expect(takeover).toBeLessThan(10_000);
    await Promise.all(pages.map((p) => p.close()));
  }, 60_000);
});

describe("subscribe() against a server that refuses", () => {
  let server: RunningServer;
  let app: AppOrigin;
  let page: Page;
  let refusing = true;

  beforeAll(async () => {
    server = await startServer("bun", { env: { ...FAST_RETRY, SSE_MAX_STREAMS: "1" } });
    const sse = new SseClient({ url: server.url, secret: SECRET_HEX });
    // While `refusing`, the app hands out URLs with a token the server rejects (401).
    app = serveAppOrigin((lastEventId) => (refusing ? `${server.url}/events?token=forged` : sse.subscribeUrl([TOPIC], { lastEventId })));
    page = await newPage(browser);
    await page.goto(app.url);
  });
  afterAll(async () => {
    await page?.close();
    await app?.stop();
    if (server) await expectHealthy(server);
    await server?.stop();
  });

  test("401s: `error` with the status each time, attempts backing off (no tight loop), then the stream once it is allowed", async () => {
    const subscription = await openPageSubscription(page, `${server.url}/client.js`, { urlFrom: `${app.url}stream-url` }, {
      share: false,
      backoffBaseMs: 100,
      backoffCapMs: 2000,
    });
    await new Promise((r) => setTimeout(r, 3000));
    const refused = await subscription.snapshot();
    // Full jitter under 200, 400, 800, 1600, 2000… ms: about 5 attempts in 3 s expected, never dozens.
    expect(refused.errors.length).toBeGreaterThanOrEqual(2);
    expect(refused.errors.length).toBeLessThanOrEqual(15);
    expect(new Set(refused.errors)).toEqual(new Set([401]));
    expect(refused.opens).toBe(0);

    refusing = false;
    await subscription.opened();
    await submitRange(server, 1, 3);
    expect(datas({ ...refused, events: await subscription.events(3) })).toEqual(range(1, 3));
    await subscription.close();
  }, 30_000);

  test("a full server's `retry:`-only answer is honoured: the second page waits its turn, then gets its events", async () => {
    const [pageA, pageB] = [page, await newPage(browser)];
    await pageB.goto(app.url);
    const first = await openPageSubscription(pageA, `${server.url}/client.js`, `${app.url}events`, { share: false });
    await first.opened();
    await until(async () => (await openStreams(server)) === 1, "the first stream is open");
    // SSE_MAX_STREAMS=1: the second is told to come back later, each time, without a tight loop.
    const second = await openPageSubscription(pageB, `${server.url}/client.js`, `${app.url}events`, { share: false, backoffBaseMs: 100 });
    await new Promise((r) => setTimeout(r, 2000));
    const turnedAway = app.redirected.length - 1;
    // Each answer said retry within 0.2–0.5 s (FAST_RETRY): at most 10 in 2 s.
    expect(turnedAway).toBeGreaterThanOrEqual(2);
    expect(turnedAway).toBeLessThanOrEqual(10);
    // Being told to come back is no open stream (a plain EventSource would fire open each time).
    const waiting = await second.snapshot();
    expect(waiting.opens).toBe(0);
    expect(waiting.errors.length).toBeGreaterThanOrEqual(turnedAway);
    await first.close();
    await second.opened(1);
    await until(async () => (await openStreams(server)) === 1, "the second stream took the place");
    await submitRange(server, 1, 2);
    expect((await second.events(2)).map((e) => e.data)).toEqual(["1", "2"]);
    await second.close();
    await pageB.close();
  }, 30_000);
});
