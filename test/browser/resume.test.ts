/**
 * A dropped stream, in a real browser: the connection between a page's `EventSource` and
 * the server is cut (by a TCP proxy between them) while the page stays open; the browser
 * reconnects by itself, sending `Last-Event-ID`, and the server replays exactly what the
 * page missed — so the page ends with every event, in order, once, and never refetches.
 * When the history cannot cover the gap, the page is told so (`event: reset`) instead.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import {
  launchChromium,
  newPage,
  openPageEventSource,
  PAGE_TIMEOUT_MS,
  serveBlankOrigin,
  type BlankOrigin,
  type PageEventSource,
  type PageRecord,
} from "../helpers/browser.ts";
import { headerOf, startProxy, type TcpProxy } from "../helpers/proxy.ts";
import { expectHealthy, postSubmit, SERVERS, startServer, waitForLog, type ServerKind, type RunningServer } from "../helpers/server.ts";
import { submitToken, subscribeToken } from "../helpers/tokens.ts";

const TOPIC = "feed";
/** What the page listens for: plain events, and the reset a gap would bring. */
const EVENT_TYPES = ["message", "reset"] as const;

/** A server with a proxy in front of it; the page only ever reaches the server through it. */
interface Setup {
  readonly server: RunningServer;
  readonly proxy: TcpProxy;
}

async function startBehindProxy(runtime: ServerKind, env: Record<string, string>): Promise<Setup> {
  // Debug logs say how each stream started ("stream opened", start: fresh/resumed/evicted).
  const server = await startServer(runtime, { env: { LOG_LEVEL: "debug", ...env } });
  try {
    return { server, proxy: await startProxy(server.port) };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

let browser: Browser;
let origin: BlankOrigin;
/**
 * Per runtime: a server with a full history and one that keeps 2 events per topic. All
 * start at once, with the browser (the slow part of this file is Chromium's reconnect
 * delay, not the start-up); each runtime's tests fail alone if its servers do not start.
 */
const setups = new Map<ServerKind, Promise<[Setup, Setup]>>();

beforeAll(async () => {
  for (const runtime of SERVERS) {
    const pair = Promise.all([startBehindProxy(runtime, {}), startBehindProxy(runtime, { SSE_HISTORY_SIZE: "2" })]);
    pair.catch(() => {}); // reported by that runtime's tests
    setups.set(runtime, pair);
  }
  [browser, origin] = await Promise.all([launchChromium(), serveBlankOrigin()]);
});
afterAll(async () => {
  await browser?.close();
  await origin?.stop();
  const started = (await Promise.allSettled(setups.values())).flatMap((r) => (r.status === "fulfilled" ? r.value : []));
  await Promise.all(started.map((s) => s.proxy.close()));
  try {
    for (const { server } of started) await expectHealthy(server);
  } finally {
    await Promise.all(started.map((s) => s.server.stop()));
  }
});

/** The stream's URL through the proxy: another origin than the page's, as in production. */
function proxiedEventsUrl({ server, proxy }: Setup, token: string): string {
  const basePath = new URL(server.url).pathname.replace(/\/+$/, "");
  return `${proxy.origin}${basePath}/events?token=${encodeURIComponent(token)}`;
}

/** Submits events `from..to` (data "from" … "to"), one submission each, in order, straight to the server. */
async function submitRange(server: RunningServer, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    const res = await postSubmit(server, submitToken([{ topic: TOPIC, event: "", data: String(i) }]));
    expect(res.status).toBe(200);
    await res.text();
  }
}

const messages = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ type: "message", data: String(from + i) }));

/** The `GET …/events` request heads that reached the proxy, in order. */
const streamRequests = (proxy: TcpProxy) => proxy.requestHeads().filter((head) => /^GET \S*\/events\?/.test(head));

/** The last `id:` the server sent on a connection (what the browser holds as its last event id). */
function lastIdSent(response: string): string | undefined {
  return [...response.matchAll(/^id: ?(.*)$/gm)].at(-1)?.[1];
}

/** Polls the page's record until `ready` holds; bounded like every page wait. */
async function until(source: PageEventSource, ready: (r: PageRecord) => boolean, what: string): Promise<PageRecord> {
  const deadline = Date.now() + PAGE_TIMEOUT_MS;
  for (;;) {
    const record = await source.snapshot();
    if (ready(record)) return record;
    if (Date.now() > deadline) throw new Error(`page never ${what}; it has ${JSON.stringify(record)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Opens the page's stream through the proxy, delivers `1..k` live, cuts the connection,
 * submits `k+1..n` while the page is disconnected, and waits until the browser has
 * reconnected by itself. Returns the source and what the reconnect looked like.
 */
async function dropWhileOpen(page: Page, setup: Setup, k: number, n: number) {
  const { server, proxy } = setup;
  const source = await openPageEventSource(page, proxiedEventsUrl(setup, subscribeToken([TOPIC])), EVENT_TYPES);
  await source.opened(1);
  await submitRange(server, 1, k);
  expect(await source.events(k)).toEqual(messages(1, k));
  expect(streamRequests(proxy)).toHaveLength(1);
  const firstConnection = proxy.connections.find((c) => /^GET \S*\/events\?/.test(c.request))!;

  const logsBeforeCut = server.logs.length;
  expect(proxy.cutAll()).toBeGreaterThanOrEqual(1);
  await submitRange(server, k + 1, n);
  // Submitted while the page was disconnected: it got none of them, and has not reconnected yet.
  const meanwhile = await source.snapshot();
  expect({ opens: meanwhile.opens, events: meanwhile.events.length }).toEqual({ opens: 1, events: k });
  expect(streamRequests(proxy)).toHaveLength(1);
  // The page noticed: `error` fired, and the browser is reconnecting (not given up).
  const dropped = await until(source, (r) => r.errors >= 1, "saw the connection drop");
  expect(dropped.readyState).not.toBe(2);

  // Chromium reconnects by itself (after its default ~3 s), through the same URL.
  await source.opened(2);
  const requests = streamRequests(proxy);
  expect(requests).toHaveLength(2);
  const lastEventId = headerOf(requests[1]!, "Last-Event-ID");
  // The reconnect carries the id of the last event the page got before the cut.
  expect(lastEventId).toBeDefined();
  expect(lastEventId).toBe(lastIdSent(firstConnection.response)!);
  expect(headerOf(requests[0]!, "Last-Event-ID")).toBeUndefined();
  const opened = await waitForLog(server, (e) => e.msg === "stream opened", { from: logsBeforeCut });
  return { source, lastEventId: lastEventId!, opened };
}

for (const runtime of SERVERS) {
  describe(`${runtime}: a dropped stream in Chromium`, () => {
    let page: Page;
    let resumable: Setup;
    let shortHistory: Setup;

    beforeAll(async () => {
      [resumable, shortHistory] = await setups.get(runtime)!;
      page = await newPage(browser);
      await page.goto(origin.url);
    });
    afterAll(async () => {
      await page?.close();
    });

    test("events submitted while it was down are replayed on reconnect: every event, in order, once", async () => {
      const [k, n, m] = [3, 8, 11];
      const { source, opened } = await dropWhileOpen(page, resumable, k, n);
      // The server resumed the stream from the page's last id, replaying exactly the gap.
      expect({ start: opened.start, replayed: opened.replayed }).toEqual({ start: "resumed", replayed: n - k });
      expect(await source.events(n)).toEqual(messages(1, n));

      await submitRange(resumable.server, n + 1, m);
      await source.events(m);
      const seen = await source.snapshot();
      // All of 1..m, in order, no duplicate and no reset; one drop, one reconnect.
      expect(seen.events).toEqual(messages(1, m));
      expect({ opens: seen.opens, errors: seen.errors, readyState: seen.readyState }).toEqual({
        opens: 2,
        errors: 1,
        readyState: 1,
      });
      expect(streamRequests(resumable.proxy)).toHaveLength(2);
      await source.close();
    });

    test("a gap the history no longer covers: the page gets `reset: evicted`, then live events", async () => {
      // SSE_HISTORY_SIZE=2, and 4 events missed: the first of them is gone on reconnect.
      const [k, n, m] = [2, 6, 8];
      const { source, opened } = await dropWhileOpen(page, shortHistory, k, n);
      expect(opened.start).toBe("evicted");
      expect(await source.events(k + 1)).toEqual([...messages(1, k), { type: "reset", data: "evicted" }]);

      await submitRange(shortHistory.server, n + 1, m);
      await source.events(k + 1 + (m - n));
      const seen = await source.snapshot();
      // None of the missed events is replayed piecemeal: the reset says "resync", then live.
      expect(seen.events).toEqual([...messages(1, k), { type: "reset", data: "evicted" }, ...messages(n + 1, m)]);
      expect({ opens: seen.opens, errors: seen.errors, readyState: seen.readyState }).toEqual({
        opens: 2,
        errors: 1,
        readyState: 1,
      });
      await source.close();
    });
  });
}
