/**
 * Headless Chromium for browser tests: Debian's `chromium` (never a downloaded browser),
 * driven by `playwright-core`. A missing Chromium fails the tests, it never skips them.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * No sandbox (CI runs as root), no GPU, and none of the background traffic (updates,
 * sync, safe browsing...) that would knock on a closed network and slow the start.
 * `chromium.launch` adds a fresh, temporary `--user-data-dir` of its own (removed on
 * close), so no profile state is shared between runs.
 */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
] as const;

/** Every wait in a page is bounded; a test that hangs says where. */
export const PAGE_TIMEOUT_MS = 10_000;

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: install it with "apt-get install chromium" ` +
        "(.ci/run does) or point CHROMIUM_PATH at one; browser tests never skip",
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS], timeout: 30_000 });
}

export async function newPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 720, height: 520 } });
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  return page;
}

export interface BlankOrigin {
  /** Origin plus `/`, serving an empty HTML page. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * An empty page on an origin of its own, for running `EventSource` cross-origin the way a
 * real site does (the SSE server is always on another origin than the page using it).
 */
export function serveBlankOrigin(): BlankOrigin {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response("<!doctype html><title>blank</title>", { headers: { "Content-Type": "text/html" } }),
  });
  return { url: `http://127.0.0.1:${server.port}/`, stop: () => server.stop(true) };
}

/** What a page's listener saw: `event.type` and `event.data` of a MessageEvent. */
export interface SeenEvent {
  readonly type: string;
  readonly data: string;
}

/**
 * An `EventSource` living in a page, with what its listeners saw recorded there; the test
 * reads the record back. Listening by name with `addEventListener` is the point: that is
 * how browser code receives named events.
 */
export interface PageEventSource {
  /** Waits until `open` has fired `times` times in all. */
  opened(times?: number): Promise<void>;
  /** Waits for `n` events in all and returns the first `n`. */
  events(n: number): Promise<SeenEvent[]>;
  /** Waits until `error` has fired and the browser has given up (readyState CLOSED). */
  failed(): Promise<void>;
  /** `open` and `error` counts, readyState, and every event, as the page has them now. */
  snapshot(): Promise<PageRecord>;
  close(): Promise<void>;
}

export interface PageRecord {
  readonly opens: number;
  readonly errors: number;
  readonly readyState: number;
  readonly events: SeenEvent[];
}

/** What the page keeps per EventSource (mutable there; copied out by `snapshot`). */
interface Recorder {
  readonly source: EventSource;
  readonly record: { opens: number; errors: number; events: SeenEvent[] };
}
declare global {
  var __eventSources: Record<string, Recorder> | undefined;
}

let nextId = 0;

export async function openPageEventSource(
  page: Page,
  url: string,
  eventTypes: readonly string[] = ["message"],
): Promise<PageEventSource> {
  const id = `es${nextId++}`;
  await page.evaluate(
    ({ id, url, eventTypes }) => {
      const source = new EventSource(url);
      const record: Recorder["record"] = { opens: 0, errors: 0, events: [] };
      source.addEventListener("open", () => void record.opens++);
      source.addEventListener("error", () => void record.errors++);
      for (const type of eventTypes) {
        source.addEventListener(type, (e) => record.events.push({ type: e.type, data: (e as MessageEvent<string>).data }));
      }
      (globalThis.__eventSources ??= {})[id] = { source, record };
    },
    { id, url, eventTypes },
  );
  const entry = `globalThis.__eventSources[${JSON.stringify(id)}]`;
  const snapshot = (): Promise<PageRecord> =>
    page.evaluate((id) => {
      const { source, record } = globalThis.__eventSources![id]!;
      return { ...record, readyState: source.readyState };
    }, id);
  return {
    async opened(times = 1) {
      await page.waitForFunction(`${entry}.record.opens >= ${times}`);
    },
    async events(n) {
      await page.waitForFunction(`${entry}.record.events.length >= ${n}`);
      return (await snapshot()).events.slice(0, n);
    },
    async failed() {
      await page.waitForFunction(`${entry}.record.errors > 0 && ${entry}.source.readyState === EventSource.CLOSED`);
    },
    snapshot,
    close: () => page.evaluate((id) => globalThis.__eventSources![id]!.source.close(), id),
  };
}

/** A site's own origin in front of the SSE server, as an app that uses it serves one. */
export interface AppOrigin {
  /** Origin plus `/`, serving an empty HTML page. */
  readonly url: string;
  /** The `lastEventId` query of every `GET /events` it redirected, in order ("" when none). */
  readonly redirected: string[];
  stop(): Promise<void>;
}

/**
 * An app origin with the two ways to hand a page a stream URL with a fresh token:
 * `GET /events` answers a 307 to `streamUrl(lastEventId)` (the redirect pattern, passing
 * the page's `lastEventId` on), and `GET /stream-url` returns `streamUrl()` as text (for a
 * URL function; the client adds `lastEventId` itself).
 */
export function serveAppOrigin(streamUrl: (lastEventId?: string) => string): AppOrigin {
  const redirected: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const url = new URL(request.url);
      const noStore = { "Cache-Control": "no-store" };
      if (url.pathname === "/events") {
        const lastEventId = url.searchParams.get("lastEventId") ?? undefined;
        redirected.push(lastEventId ?? "");
        return new Response(null, { status: 307, headers: { ...noStore, Location: streamUrl(lastEventId) } });
      }
      if (url.pathname === "/stream-url") return new Response(streamUrl(), { headers: noStore });
      return new Response("<!doctype html><title>app</title>", { headers: { "Content-Type": "text/html" } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}/`, redirected, stop: () => server.stop(true) };
}

/** What a page's subscription listeners saw. */
export interface SubscriptionRecord {
  readonly opens: number;
  /** The `status` of each `error` event (null when the server did not answer). */
  readonly errors: (number | null)[];
  readonly events: { type: string; data: string; lastEventId: string }[];
}

/** A `subscribe()` of the served client (`GET client.js`) living in a page. */
export interface PageSubscription {
  /** Waits until the page has `n` events (of the types listened to) and returns them all. */
  events(n: number, timeoutMs?: number): Promise<SubscriptionRecord["events"]>;
  opened(times?: number): Promise<void>;
  snapshot(): Promise<SubscriptionRecord>;
  close(): Promise<void>;
}

declare global {
  var __subscriptions: Record<string, { subscription: { close(): void }; record: SubscriptionRecord }> | undefined;
}

/**
 * Subscribes in the page with the client the SSE server serves at `clientUrl`. `source`:
 * a URL, or `{ urlFrom }`: a URL function that fetches a fresh stream URL from there.
 */
export async function openPageSubscription(
  page: Page,
  clientUrl: string,
  source: string | { readonly urlFrom: string },
  options: Record<string, unknown> = {},
  eventTypes: readonly string[] = ["message", "reset"],
): Promise<PageSubscription> {
  const id = `sub${nextId++}`;
  await page.evaluate(
    async ({ id, clientUrl, source, options, eventTypes }) => {
      const { subscribe } = await import(clientUrl);
      const from = typeof source === "string" ? source : () => fetch(source.urlFrom).then((r) => r.text());
      const subscription = subscribe(from, options);
      const record = { opens: 0, errors: [] as (number | null)[], events: [] as SubscriptionRecord["events"] };
      subscription.addEventListener("open", () => void record.opens++);
      subscription.addEventListener("error", (e: Event & { status?: number }) => void record.errors.push(e.status ?? null));
      for (const type of eventTypes) {
        subscription.addEventListener(type, (e: MessageEvent<string>) =>
          record.events.push({ type: e.type, data: e.data, lastEventId: e.lastEventId }),
        );
      }
      (globalThis.__subscriptions ??= {})[id] = { subscription, record };
    },
    { id, clientUrl, source, options, eventTypes },
  );
  const entry = `globalThis.__subscriptions[${JSON.stringify(id)}].record`;
  const snapshot = (): Promise<SubscriptionRecord> => page.evaluate((id) => globalThis.__subscriptions![id]!.record, id);
  return {
    async events(n, timeoutMs = PAGE_TIMEOUT_MS) {
      await page.waitForFunction(`${entry}.events.length >= ${n}`, undefined, { timeout: timeoutMs, polling: 50 });
      return (await snapshot()).events;
    },
    async opened(times = 1) {
      await page.waitForFunction(`${entry}.opens >= ${times}`);
    },
    snapshot,
    close: () => page.evaluate((id) => globalThis.__subscriptions![id]!.subscription.close(), id),
  };
}
