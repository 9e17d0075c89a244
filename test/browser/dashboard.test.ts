/**
 * The live dashboard in headless Chromium, against the real server: it opens with a
 * dashboard token and is refused without one; its charts move while events flow; the tail
 * shows an event's data as text, never as HTML; its publish form reaches an EventSource in
 * another page; it is reachable by keyboard and fits a phone's width.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium, newPage, openPageEventSource, serveBlankOrigin, type BlankOrigin } from "../helpers/browser.ts";
import { dashboardUrl, eventsUrl, expectHealthy, postSubmit, startServer, type RunningServer } from "../helpers/server.ts";
import { openStream } from "../helpers/sse.ts";
import { dashboardToken, submitToken, subscribeToken } from "../helpers/tokens.ts";

const XSS = "<img src=x onerror=alert(1)>";

let browser: Browser;
let origin: BlankOrigin;
let server: RunningServer;

beforeAll(async () => {
  [browser, origin, server] = await Promise.all([launchChromium(), serveBlankOrigin(), startServer("bun", { basePath: "/sse/" })]);
});
afterAll(async () => {
  await browser?.close();
  await origin?.stop();
  if (!server) return;
  try {
    await expectHealthy(server);
  } finally {
    await server.stop();
  }
});

/** The page, opened with a fresh token and live (its first stats sample shown); CSP violations recorded. */
async function openDashboard(viewport?: { width: number; height: number }): Promise<Page> {
  const page = await newPage(browser);
  if (viewport) await page.setViewportSize(viewport);
  await page.addInitScript(() => {
    (globalThis as { __violations?: string[] }).__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => (globalThis as { __violations?: string[] }).__violations!.push(e.violatedDirective));
  });
  const response = await page.goto(dashboardUrl(server, "dashboard", dashboardToken()));
  expect(response?.status()).toBe(200);
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "live");
  await page.waitForFunction(() => document.getElementById("redis")?.textContent !== "–");
  return page;
}

const violations = (page: Page) => page.evaluate(() => (globalThis as { __violations?: string[] }).__violations);

async function submit(topic: string, event: string, data: string): Promise<void> {
  const res = await postSubmit(server, submitToken([{ topic, event, data }]));
  expect(res.status).toBe(200);
  await res.text();
}

describe("the dashboard in Chromium", () => {
  test("loads with a token: live, every chart and panel filled, no CSP violation", async () => {
    const page = await openDashboard();
    expect(await page.locator("figure[data-chart]").evaluateAll((figures) => figures.map((f) => (f as HTMLElement).dataset.chart))).toEqual([
      "streams",
      "topics",
      "submissions",
      "deliveries",
      "bytes",
    ]);
    expect(await page.textContent("#redis")).toBe("not used (one instance)");
    expect(await page.textContent("#history")).toMatch(/^\d+ events, /);
    expect(await violations(page)).toEqual([]);
    await page.close();
  });

  test("refused without a valid token: a 401 and no dashboard", async () => {
    const page = await newPage(browser);
    for (const url of [
      `${server.url}/dashboard`,
      dashboardUrl(server, "dashboard", dashboardToken({ timestamp: Math.floor(Date.now() / 1000) - 2 * 86400 })),
      dashboardUrl(server, "dashboard", subscribeToken(["t"])),
    ]) {
      const response = await page.goto(url);
      expect([401, 400]).toContain(response!.status());
      expect(await page.locator("#charts, form, script").count()).toBe(0);
      expect(await page.textContent("body")).toMatch(/^invalid (token|payload): /);
    }
    await page.close();
  });

  test("the deliveries chart moves while events are published", async () => {
    const page = await openDashboard();
    const chart = page.locator('figure[data-chart="deliveries"]');
    const points = () => chart.locator("polyline").getAttribute("points");
    const before = await points();
    const listener = await openStream(eventsUrl(server, subscribeToken(["load"])));
    const publishing = (async () => {
      for (let i = 0; i < 40; i++) {
        await submit("load", "", `event ${i}`);
        await Bun.sleep(50);
      }
    })();
    // A point above the baseline: some second saw deliveries.
    await page.waitForFunction(() => {
      const line = document.querySelector('figure[data-chart="deliveries"] polyline')?.getAttribute("points") ?? "";
      return line.split(" ").some((p) => Number(p.split(",")[1]) < 90);
    });
    await publishing;
    expect(await points()).not.toBe(before);
    expect(Number((await chart.locator("output").textContent()) ?? "NaN")).toBeGreaterThanOrEqual(0);
    expect(await chart.locator("svg").getAttribute("aria-label")).toMatch(/^Deliveries\/s: now .*, peak [1-9]/);
    listener.close();
    await page.close();
  });

  test("the tail, reached by keyboard, shows an event's data as text: no element made, no script run", async () => {
    const page = await openDashboard();
    let dialogs = 0;
    page.on("dialog", (dialog) => {
      dialogs++;
      void dialog.dismiss();
    });
    // Tab from the top of the page to the tail's topic field.
    for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement?.id)) !== "tail-topic"; i++) await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("tail-topic");
    await page.keyboard.type("xss");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.getElementById("tail-status")?.textContent === "following xss");
    await submit("xss", "attack", XSS);
    await page.waitForFunction(() => document.querySelector("#tail pre") !== null);
    expect(await page.textContent("#tail pre")).toBe(XSS);
    expect(await page.textContent("#tail .meta")).toMatch(/ · attack · id /);
    expect(await page.locator("#tail img, img").count()).toBe(0);
    await Bun.sleep(200);
    expect(dialogs).toBe(0);
    expect(await violations(page)).toEqual([]);
    // Stop ends the tail; the next event does not appear.
    await page.click("#tail-stop");
    await submit("xss", "", "after stop");
    await Bun.sleep(300);
    expect(await page.locator("#tail li").count()).toBe(1);
    await page.close();
  });

  test("the publish form's event reaches an EventSource in another page", async () => {
    const other = await newPage(browser);
    await other.goto(origin.url);
    const source = await openPageEventSource(other, eventsUrl(server, subscribeToken(["demo"])), ["greeting"]);
    await source.opened();
    const page = await openDashboard();
    await page.fill("#publish-topic", "demo");
    await page.fill("#publish-event", "greeting");
    await page.fill("#publish-data", `hello\n${XSS}`);
    await page.click('#publish-form button[type="submit"]');
    expect(await source.events(1)).toEqual([{ type: "greeting", data: `hello\n${XSS}` }]);
    await page.waitForFunction(() => document.getElementById("publish-status")?.textContent === "published to demo");
    // A refused one says why.
    await page.fill("#publish-event", "two\u2028lines"); // allowed: only CR and LF are not
    await page.fill("#publish-topic", "x".repeat(70_000));
    await page.click('#publish-form button[type="submit"]');
    await page.waitForFunction(() => /^refused \(413\)/.test(document.getElementById("publish-status")?.textContent ?? ""));
    await source.close();
    await other.close();
    await page.close();
  });

  test("readable on a phone: nothing wider than the screen", async () => {
    const page = await openDashboard({ width: 360, height: 740 });
    const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: window.innerWidth }));
    expect(widths.page).toBeLessThanOrEqual(widths.screen);
    await page.close();
  });
});
