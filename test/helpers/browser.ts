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
