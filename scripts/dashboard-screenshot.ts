/**
 * Makes docs/dashboard.png: the dashboard of a Bun server under load (a few hundred
 * streams over a few dozen topics, events published at a varying rate for half a
 * minute, some refused tokens), with a topic's tail running, as headless Chromium shows it.
 * Run: bun scripts/dashboard-screenshot.ts [seconds of load, default 30]
 */
import { statSync } from "node:fs";
import { launchChromium } from "../test/helpers/browser.ts";
import { dashboardUrl, eventsUrl, postSubmit, ROOT, startServer } from "../test/helpers/server.ts";
import { openStream, type EventStream } from "../test/helpers/sse.ts";
import { dashboardToken, OTHER_SECRET_HEX, submitToken, subscribeToken } from "../test/helpers/tokens.ts";

const LOAD_SECONDS = Number(process.argv[2] ?? 30);
const OUT = `${ROOT}docs/dashboard.png`;
/** Topic → streams on it: a few busy topics, then one stream per user. */
const AUDIENCE: [string, number][] = [
  ["orders", 70],
  ["chat:lobby", 45],
  ["prices:EUR", 30],
  ["deploys", 8],
  ...Array.from({ length: 30 }, (_, i): [string, number] => [`user:${1000 + i}`, 1]),
];

const server = await startServer("bun", { env: { SSE_TOKEN_TTL: "3600" } });
const browser = await launchChromium();
const streams: EventStream[] = [];
try {
  for (const [topic, count] of AUDIENCE) {
    for (let i = 0; i < count; i++) streams.push(await openStream(eventsUrl(server, subscribeToken([topic]))));
  }
  process.stdout.write(`${streams.length} streams open\n`);
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto(dashboardUrl(server, "dashboard", dashboardToken()));
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "live");
  await page.fill("#tail-topic", "orders");
  await page.press("#tail-topic", "Enter");
  await page.fill("#publish-topic", "deploys");
  await page.fill("#publish-event", "release");
  await page.fill("#publish-data", '{"version":"1.4.2"}');

  const started = Date.now();
  let n = 0;
  while (Date.now() - started < LOAD_SECONDS * 1000) {
    const t = (Date.now() - started) / 1000;
    // A rate that swells and ebbs, so the charts have a shape.
    const batch = Math.max(1, Math.round(4 + 3 * Math.sin(t / 3)));
    const events = Array.from({ length: batch }, () => {
      const [topic] = AUDIENCE[Math.floor(Math.random() ** 2 * AUDIENCE.length)]!;
      return { topic, event: "update", data: JSON.stringify({ n: n++, at: new Date().toISOString() }) };
    });
    await (await postSubmit(server, submitToken(events))).text();
    if (n % 40 < batch) {
      const forged = subscribeToken(["orders"], { secretHex: OTHER_SECRET_HEX });
      const expired = subscribeToken(["orders"], { timestamp: Math.floor(Date.now() / 1000) - 7200 });
      for (const token of [forged, expired]) await (await fetch(eventsUrl(server, token))).text();
    }
    await Bun.sleep(100);
  }
  await page.locator("#publish-data").blur();
  await page.screenshot({ path: OUT, fullPage: true });
  process.stdout.write(`${OUT}: ${statSync(OUT).size} bytes, ${n} events over ${LOAD_SECONDS} s, ${streams.length} streams\n`);
} catch (error) {
  process.stderr.write(`server exit ${server.process.exitCode}; stderr: ${server.stderr()}\nlast logs:\n${server.logs.slice(-5).join("\n")}\n`);
  throw error;
} finally {
  for (const stream of streams) stream.close();
  await browser.close();
  await server.stop();
}
