/**
 * The todo demo end to end in headless Chromium: pages on the app's origin, redirected
 * (307) to the SSE server on another origin, kept in sync by it, and reconnecting by
 * themselves when it restarts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTodoApp } from "../../examples/todo/app.ts";
import { createSsePublisher } from "../../examples/todo/sse-publisher.ts";
import { launchChromium, newPage } from "../helpers/browser.ts";
import { spawnProcess, waitForOutput } from "../helpers/process.ts";
import { expectHealthy, ROOT, startServer, type RunningServer } from "../helpers/server.ts";
import { SECRET_HEX } from "../helpers/tokens.ts";

const SCREENSHOT_PATH = join(tmpdir(), "sse-server-todo-demo.png");

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** Opens the demo page and waits until its stream is live (`open` has fired). */
async function openTodoPage(url: string): Promise<Page> {
  const page = await newPage(browser);
  await page.goto(url);
  await page.locator('#status[data-state="live"]').waitFor();
  return page;
}

async function addItem(page: Page, text: string): Promise<void> {
  await page.fill("#text", text);
  await page.click('button[type="submit"]');
}

const waitForItem = (page: Page, text: string) => page.locator("#items li", { hasText: text }).waitFor();

const listedItems = (page: Page) => page.locator("#items li").allTextContents();

describe("the todo demo, as `npm run demo` starts it", () => {
  let demo: DemoProcess;
  const pages: Page[] = [];
  const open = async () => {
    const page = await openTodoPage(demo.appUrl);
    pages.push(page);
    return page;
  };

  beforeAll(async () => {
    demo = await startDemo();
  });
  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close()));
    if (!demo) return;
    expect(await demo.stop()).toBe(0);
    // The demo takes its SSE server down with it.
    expect(await fetch(`${demo.sseUrl}/ping`).then(() => "answered", () => "gone")).toBe("gone");
  });

  test("the page's /events is a 307 to the SSE server's origin, which allows it by CORS", async () => {
    const redirect = await fetch(`${demo.appUrl}events`, { redirect: "manual" });
    expect(redirect.status).toBe(307);
    expect(redirect.headers.get("cache-control")).toBe("no-store");
    const location = new URL(redirect.headers.get("location")!);
    expect(location.origin).toBe(new URL(demo.sseUrl).origin);
    expect(location.origin).not.toBe(new URL(demo.appUrl).origin);
    expect(location.searchParams.get("token")).toMatch(/^[0-9A-Za-z]+$/);
    expect(location.searchParams.has("lastEventId")).toBe(false);
    // A reconnecting page's last event id is passed on, so its stream resumes after it.
    const resuming = await fetch(`${demo.appUrl}events?lastEventId=${encodeURIComponent("7 & 8")}`, { redirect: "manual" });
    expect(new URL(resuming.headers.get("location")!).searchParams.get("lastEventId")).toBe("7 & 8");

    // In the browser: the page imports the SSE server's client, asks its own origin for
    // the stream and ends up streaming from the other.
    const page = await newPage(browser);
    pages.push(page);
    const clientResponse = page.waitForResponse(`${demo.sseUrl}/client.js`);
    const streamResponse = page.waitForResponse((r) => r.url().startsWith(`${demo.sseUrl}/events?`));
    await page.goto(demo.appUrl);
    const response = await streamResponse;
    expect(response.status()).toBe(200);
    expect(response.request().redirectedFrom()?.url()).toBe(`${demo.appUrl}events`);
    expect(response.headers()["access-control-allow-origin"]).toBe("*");
    expect(response.headers()["content-type"]).toBe("text/event-stream");
    await page.locator('#status[data-state="live"]').waitFor();
    expect((await clientResponse).status()).toBe(200);
  });

  test("two pages: an item added in one appears in the other through SSE", async () => {
    const [first, second] = await Promise.all([open(), open()]);
    await addItem(first, "buy oat milk");
    // Neither page updates from its own POST: both lists change only through the stream.
    await Promise.all([waitForItem(second, "buy oat milk"), waitForItem(first, "buy oat milk")]);
    await addItem(second, "call Zoë about the café");
    await waitForItem(first, "call Zoë about the café");
    await waitForItem(second, "call Zoë about the café");
    expect(await listedItems(first)).toEqual(["buy oat milk", "call Zoë about the café"]);
    expect(await listedItems(second)).toEqual(await listedItems(first));

    // A page opened later catches up on `open`, before any new event.
    const late = await open();
    await waitForItem(late, "call Zoë about the café");
    expect(await listedItems(late)).toEqual(["buy oat milk", "call Zoë about the café"]);

    await second.screenshot({ path: SCREENSHOT_PATH });
    console.log(`screenshot of the todo demo after an update: ${SCREENSHOT_PATH}`);
  });
});

describe("the todo app while its SSE server restarts", () => {
  const stacks: TodoStack[] = [];
  afterAll(async () => {
    await Promise.all(stacks.map((s) => s.stop()));
  });

  test("pages reconnect by themselves, `open` fires again, later events arrive", async () => {
    const stack = await startTodoStack();
    stacks.push(stack);
    const [first, second] = await Promise.all([openTodoPage(stack.appUrl), openTodoPage(stack.appUrl)]);

    await stack.restartSse(async () => {
      // The stream ended: the page's client is reconnecting on its own.
      await Promise.all([first, second].map((p) => p.locator('#status[data-state="connecting"]').waitFor()));
    });
    await Promise.all([first, second].map((p) => waitForOpens(p, 2)));

    await addItem(first, "after the restart");
    await Promise.all([waitForItem(first, "after the restart"), waitForItem(second, "after the restart")]);
    await expectHealthy(stack.sse);
    await Promise.all([first.close(), second.close()]);
  });

  test("a token that expired meanwhile: the page gets a fresh one through the app", async () => {
    const stack = await startTodoStack({ SSE_TOKEN_TTL: "1" });
    stacks.push(stack);
    const page = await openTodoPage(stack.appUrl);
    const streamRequests = stack.streamRequests();

    // The old token has expired by the time the server is back: the client asks the app
    // again (as for every connection), which mints a fresh one.
    await stack.restartSse();
    await waitForOpens(page, 2);
    expect(stack.streamRequests()).toBeGreaterThan(streamRequests);

    await addItem(page, "with a fresh token");
    await waitForItem(page, "with a fresh token");
    await page.close();
  });
});

/** Waits until the page's stream has opened `times` times (the server says retry within 1–8 s). */
const waitForOpens = (page: Page, times: number) =>
  page.waitForFunction((n) => Number(document.getElementById("status")!.dataset.opens) >= n, times, {
    timeout: 15_000,
  });

interface TodoStack {
  readonly appUrl: string;
  /** The SSE server now running (a new one after each restart, on the same port). */
  readonly sse: RunningServer;
  /** How often browsers asked the app for a stream (each one got a fresh token). */
  streamRequests(): number;
  /** Stops the SSE server (SIGTERM), runs `whileDown`, starts it again on the same port. */
  restartSse(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/** The todo app in this process, in front of a real SSE server (Bun) it can restart. */
async function startTodoStack(sseEnv: Record<string, string> = {}): Promise<TodoStack> {
  let sse = await startServer("bun", { env: sseEnv });
  const todo = createTodoApp({
    publisher: createSsePublisher({ secret: Buffer.from(SECRET_HEX, "hex"), privateUrl: sse.url, publicUrl: sse.url }),
  });
  let streamRequests = 0;
  const app = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request) => {
      if (new URL(request.url).pathname === "/events") streamRequests++;
      return todo.fetch(request);
    },
  });
  return {
    appUrl: `http://127.0.0.1:${app.port}/`,
    get sse() {
      return sse;
    },
    streamRequests: () => streamRequests,
    async restartSse(whileDown) {
      expect(await sse.stop("SIGTERM")).toBe(0);
      await whileDown?.();
      // A fixed port, as a real deployment has: the one it had, free again now.
      sse = await startServer("bun", { env: { ...sseEnv, PORT: String(sse.port) } });
    },
    async stop() {
      await app.stop(true);
      try {
        await expectHealthy(sse);
      } finally {
        await sse.stop();
      }
    },
  };
}

interface DemoProcess {
  readonly appUrl: string;
  readonly sseUrl: string;
  stop(): Promise<number | string>;
}

/** `npm run demo` with PORT=0: the same command, on a free port; the URLs come from its output. */
async function startDemo(timeoutMs = 20_000): Promise<DemoProcess> {
  const demo = spawnProcess([`${ROOT}node_modules/.bin/bun`, "examples/todo/main.ts"], { env: { PORT: "0" } });
  const urls = await waitForOutput(
    demo,
    (output) => /open (http:\/\/\S+\/) .*SSE server at (http:\/\/\S+)\)/.exec(output) ?? undefined,
    "the demo",
    timeoutMs,
  );
  return { appUrl: urls[1]!, sseUrl: urls[2]!, stop: () => demo.stop() };
}
